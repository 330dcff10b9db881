// The compiled BFF with timestamps on the streamed-answer route, for bench/stream-phases.ts:
// when the hooks are done, when the upstream call is created and sent, when its headers arrive,
// when the reply reaches Fastify's onSend, and when the first chunk is written to the client.
// SIGUSR2 prints the medians (ms after onRequest) as one JSON line on stderr.
import diagnostics from 'node:diagnostics_channel'
import { buildApp } from '../../dist/app.js'
import { loadConfig } from '../../dist/config/index.js'

const now = () => performance.now()
const timed = []
let current
const isStream = (path) => path.includes('/response')
diagnostics.channel('undici:request:create').subscribe(({ request }) => { if (current !== undefined && isStream(request.path)) current.created = now() })
diagnostics.channel('undici:client:sendHeaders').subscribe(({ request }) => { if (current !== undefined && isStream(request.path)) current.sent = now() })
diagnostics.channel('undici:request:headers').subscribe(({ request }) => { if (current !== undefined && isStream(request.path)) current.upstreamHeaders = now() })

const app = await buildApp({ config: loadConfig(process.env) })
app.addHook('onRequest', async (request) => { if (isStream(request.url)) current = { arrived: now() } })
app.addHook('preHandler', async (request) => { if (isStream(request.url) && current !== undefined) current.hooksDone = now() })
app.addHook('onSend', async (request, reply, payload) => {
  if (isStream(request.url) && current !== undefined) {
    const entry = current
    entry.onSend = now()
    const write = reply.raw.write.bind(reply.raw)
    reply.raw.write = (...args) => {
      if (entry.firstWrite === undefined) {
        entry.firstWrite = now()
        timed.push(entry)
      }
      return write(...args)
    }
  }
  return payload
})
process.on('SIGUSR2', () => {
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]
  const steps = ['hooksDone', 'created', 'sent', 'upstreamHeaders', 'onSend', 'firstWrite']
  console.error(JSON.stringify({ streams: timed.length, ...Object.fromEntries(steps.map((step) => [step, Number(median(timed.map((entry) => entry[step] - entry.arrived)).toFixed(3))])) }))
})
const address = await app.listen({ port: 0, host: '127.0.0.1' })
console.log(JSON.stringify({ url: address }))
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
