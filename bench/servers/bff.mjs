// The BFF under test as production runs it: the compiled dist/ (npm run build), plain Node.js,
// configured from the environment. Prints {"url": ...} when listening.
import { buildApp } from '../../dist/app.js'
import { loadConfig } from '../../dist/config/index.js'

const app = await buildApp({ config: loadConfig(process.env) })
const address = await app.listen({ port: 0, host: '127.0.0.1' })
console.log(JSON.stringify({ url: address }))
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
// Benchmarks measure memory after a full collection: SIGUSR2 runs one (with --expose-gc).
process.on('SIGUSR2', () => { globalThis.gc?.() })
