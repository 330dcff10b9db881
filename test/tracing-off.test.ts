import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup, sleep } from './helpers/app.js'
import { startOtlpReceiver } from './helpers/otlp-receiver.js'
import { realLogin, startRealServer } from './helpers/real-server.js'

/** Node.js module hooks that write down every OpenTelemetry module the process resolves. */
const HOOKS = `
import { appendFileSync } from 'node:fs'
export async function resolve (specifier, context, next) {
  const result = await next(specifier, context)
  if (/@opentelemetry|@fastify\\/otel/.test(result.url)) appendFileSync(process.env.LOAD_PROBE_FILE, result.url + '\\n')
  return result
}`

/** NODE_OPTIONS and the file where the compiled server's OpenTelemetry module loads are written. */
async function loadProbe (): Promise<{ env: Record<string, string>, loaded: () => Promise<string[]> }> {
  const folder = await mkdtemp(join(tmpdir(), 'ejento-bff-load-probe-'))
  onCleanup(async () => { await rm(folder, { recursive: true, force: true }) })
  const probe = join(folder, 'probe.mjs')
  const file = join(folder, 'loaded.txt')
  await writeFile(probe, `import { register } from 'node:module'\nregister('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}))\n`)
  await writeFile(file, '')
  return {
    env: { NODE_OPTIONS: `--import ${pathToFileURL(probe).href}`, LOAD_PROBE_FILE: file },
    loaded: async () => (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '')
  }
}

/** A proxied call and a log-in's worth of traffic; answers the lines the server logged and what Ejento received. */
async function traffic (env: Record<string, string>): Promise<{ logs: Array<Record<string, unknown>>, traceparents: unknown[] }> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  const server = await startRealServer(sim, env)
  const cookie = await realLogin(server.base)
  expect((await fetch(`${server.base}/proxy/ejento/api/agents`, { headers: { cookie, traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` } })).status).toBe(200)
  return { logs: server.logs(), traceparents: sim.requests.map((request) => request.headers.traceparent) }
}

describe('tracing off: nothing loaded, nothing sent, nothing added', () => {
  it.each<[string, Record<string, string>]>([
    ['no endpoint set', {}],
    ['OTEL_SDK_DISABLED=true with an endpoint', { OTEL_SDK_DISABLED: 'true' }],
    ['OTEL_TRACES_EXPORTER=none with an endpoint', { OTEL_TRACES_EXPORTER: 'none' }]
  ])('%s: no OpenTelemetry module is loaded, no export is sent, no traceparent goes upstream, no log line has a trace', async (_label, off) => {
    const probe = await loadProbe()
    const receiver = await startOtlpReceiver()
    const endpoint: Record<string, string> = Object.keys(off).length === 0 ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' }
    const { logs, traceparents } = await traffic({ ...probe.env, ...endpoint, ...off })
    await sleep(300)

    expect(await probe.loaded()).toEqual([])
    expect(receiver.requests).toEqual([])
    expect(traceparents.filter((value) => value !== undefined)).toEqual([])
    expect(logs.find((line) => line.msg?.toString().startsWith('tracing: '))?.tracing).toBe('off')
    expect(logs.filter((line) => 'trace_id' in line || 'span_id' in line)).toEqual([])
  })

  it('the probe sees what tracing loads when it is on (so its silence above means something)', async () => {
    const probe = await loadProbe()
    const receiver = await startOtlpReceiver()
    const { logs, traceparents } = await traffic({ ...probe.env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' })
    const loaded = await probe.loaded()
    expect(loaded.some((url) => url.includes('@opentelemetry/sdk-trace-node'))).toBe(true)
    expect(loaded.some((url) => url.includes('@fastify/otel'))).toBe(true)
    expect(traceparents.filter((value) => value !== undefined).length).toBeGreaterThan(0)
    expect(logs.some((line) => 'trace_id' in line)).toBe(true)
  })
})
