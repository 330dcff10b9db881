// bff.mjs for any build: the compiled BFF found in BFF_BUILD (a folder holding app.js and
// config/index.js, e.g. another commit's tsc output), so that bench/ab.ts can run two builds
// side by side. Prints {"url": ...} when listening.
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const build = process.env.BFF_BUILD
if (build === undefined || build === '') throw new Error('BFF_BUILD must name a compiled build folder')
const load = (file) => import(pathToFileURL(resolve(build, file)).href)
const { buildApp } = await load('app.js')
const { loadConfig } = await load('config/index.js')

const app = await buildApp({ config: loadConfig(process.env) })
const address = await app.listen({ port: 0, host: '127.0.0.1' })
console.log(JSON.stringify({ url: address }))
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
