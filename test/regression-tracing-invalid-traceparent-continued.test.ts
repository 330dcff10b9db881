import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onFileCleanup } from './helpers/app.js'
import { routeSpanOf, startOtlpReceiver, startTracedServer } from './helpers/otlp-receiver.js'
import type { OtlpReceiver, ReceivedSpan } from './helpers/otlp-receiver.js'
import type { RealServer } from './helpers/real-server.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN = '00f067aa0ba902b7'

describe('a trusted caller\'s traceparent that does not parse is not called continued', () => {
  let receiver: OtlpReceiver
  let server: RealServer

  beforeAll(async () => {
    const sim = await startSimulator()
    onFileCleanup(sim.close)
    receiver = await startOtlpReceiver(onFileCleanup)
    server = await startTracedServer(sim, receiver, {}, onFileCleanup)
  })

  /** The route span of a request (no Origin: a trusted caller) with this traceparent. */
  async function routeWith (id: string, traceparent: string): Promise<ReceivedSpan | undefined> {
    expect((await fetch(`${server.base}/healthz`, { headers: { traceparent, 'x-request-id': id } })).status).toBe(200)
    return routeSpanOf(await receiver.until((spans) => routeSpanOf(spans, id) !== undefined), id)
  }

  it.each([
    ['version-ff', `ff-${TRACE}-${SPAN}-01`],
    ['zero-trace-id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['zero-parent-id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['upper-case-hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`]
  ])('%s: a new trace, and the route span says `invalid` (it said `continued`)', async (id, traceparent) => {
    const route = await routeWith(id, traceparent)
    expect(route?.parentSpanId).toBeUndefined()
    expect(route?.traceId).not.toBe(TRACE)
    expect(route?.attributes['ejento_bff.traceparent']).toBe('invalid')
  })

  it('a valid one from the same caller is still continued', async () => {
    const route = await routeWith('valid', `00-${TRACE}-${SPAN}-01`)
    expect(route?.parentSpanId).toBe(SPAN)
    expect(route?.attributes['ejento_bff.traceparent']).toBe('continued')
  })
})
