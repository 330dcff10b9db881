import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { startHostileCollector } from './helpers/hostile-collector.js'
import { waitFor } from './helpers/processes.js'
import { startRealServer } from './helpers/real-server.js'

describe('SIGTERM with a collector that never answers', () => {
  it('the server exits 0 without waiting for the export\'s timeout (here ten minutes), and says the last spans were dropped', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    // Accepts every export and never answers.
    const collector = await startHostileCollector(() => {})
    const server = await startRealServer(sim, {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TIMEOUT: '600000',
      OTEL_BSP_EXPORT_TIMEOUT: '600000',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      SHUTDOWN_GRACE_PERIOD: '1s'
    })
    expect((await fetch(`${server.base}/healthz`)).status).toBe(200)
    // An export is under way (and hangs); the next request's span waits behind it.
    expect(await waitFor(() => collector.exports() > 0, 10_000)).toBe(true)
    expect((await fetch(`${server.base}/healthz`)).status).toBe(200)

    server.child.kill('SIGTERM')
    // Before the fix the process waited for the hanging export (OTEL_EXPORTER_OTLP_TIMEOUT) and this test timed out.
    const exit = await server.exited
    expect(exit.code).toBe(0)
    expect(server.logs().map((line) => line.msg)).toEqual(expect.arrayContaining([
      'tracing: the collector did not take the last spans within 3 s; they are dropped',
      'shut down'
    ]))
  }, 30_000)
})
