import { configFromEnvironment, start } from './start.js'

await start(configFromEnvironment())
