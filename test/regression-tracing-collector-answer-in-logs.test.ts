import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { startHostileCollector } from './helpers/hostile-collector.js'
import { waitFor } from './helpers/processes.js'
import { startRealServer } from './helpers/real-server.js'

const API_KEY = 'collector-api-key-7f3e9a'

describe('a collector refusing the exports, echoing the API key in its answer', () => {
  it('each failure is logged as its name, status and message (no stack, no answer body), once per run of the same failure, and the key never', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const collector = await startHostileCollector((res) => {
      res.writeHead(401, { 'content-type': 'text/plain' }).end(`invalid API key ${API_KEY} for this tenant`)
    })
    const server = await startRealServer(sim, {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${API_KEY}`,
      OTEL_BSP_SCHEDULE_DELAY: '20'
    })
    // Several exports, each refused.
    for (let round = 0; round < 5 && collector.exports() < 4; round++) {
      expect((await fetch(`${server.base}/healthz`)).status).toBe(200)
      await waitFor(() => collector.exports() > round, 5_000)
    }
    expect(collector.exports()).toBeGreaterThanOrEqual(4)
    await waitFor(() => server.logs().some((line) => line.tracing === 'sdk'), 5_000)

    const sdkLines = server.logs().filter((line) => line.tracing === 'sdk')
    expect(sdkLines.map((line) => line.msg)).toEqual(['OTLPExporterError (401): Unauthorized'])
    server.child.kill('SIGTERM')
    await server.exited
    expect(`${server.stdout()}${server.stderr()}`).not.toContain(API_KEY)
    expect(server.stdout()).not.toMatch(/at IncomingMessage|"stack"|\\"stack\\"/)
  })
})
