import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup, sleep } from './helpers/app.js'
import { routeSpanOf, startOtlpReceiver, startTracedServer } from './helpers/otlp-receiver.js'

describe('shutting down sends the spans still pending', () => {
  it('SIGTERM: a span the batch was still holding (ten minutes before its next export) reaches the collector before the process ends', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const receiver = await startOtlpReceiver()
    const server = await startTracedServer(sim, receiver, { OTEL_BSP_SCHEDULE_DELAY: '600000' })
    expect((await fetch(`${server.base}/healthz`, { headers: { 'x-request-id': 'before-shutdown' } })).status).toBe(200)
    await sleep(300)
    // Held: nothing was exported yet.
    expect(receiver.spans()).toEqual([])

    server.child.kill('SIGTERM')
    const exit = await server.exited
    expect(exit.code).toBe(0)
    const route = routeSpanOf(receiver.spans(), 'before-shutdown')
    expect(route?.name).toBe('GET /healthz')
  })
})
