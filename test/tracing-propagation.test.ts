import { randomBytes } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { onFileCleanup } from './helpers/app.js'
import { routeSpanOf, startOtlpReceiver, startTracedServer } from './helpers/otlp-receiver.js'
import type { OtlpReceiver, ReceivedSpan } from './helpers/otlp-receiver.js'
import { GUIDE } from './helpers/profiles.js'
import { realLogin } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

const FRONTEND = 'https://app.example.com'

describe('an incoming traceparent: continued from the operator\'s frontends, only linked from other origins', () => {
  let sim: Simulator
  let receiver: OtlpReceiver
  let server: RealServer
  let cookie: string

  beforeAll(async () => {
    sim = await startSimulator(GUIDE.sim)
    onFileCleanup(sim.close)
    receiver = await startOtlpReceiver(onFileCleanup)
    server = await startTracedServer(sim, receiver, { ALLOWED_ORIGINS: FRONTEND }, onFileCleanup)
    cookie = await realLogin(server.base)
  })

  /** A call through the passthrough with a caller's trace context; answers its route span, the caller's ids and the traceparent Ejento got. */
  async function callWith (name: string, headers: Record<string, string>): Promise<{ route: ReceivedSpan, traceId: string, spanId: string, upstream: { traceparent: unknown, tracestate: unknown } }> {
    const traceId = randomBytes(16).toString('hex')
    const spanId = randomBytes(8).toString('hex')
    const answer = await fetch(`${server.base}/proxy/ejento${GUIDE.agentsPath}`, {
      headers: { cookie, 'x-request-id': name, traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'caller=chosen-by-the-caller', ...headers }
    })
    expect(answer.status).toBe(200)
    const spans = await receiver.until((received) => routeSpanOf(received, name) !== undefined)
    const received = sim.requestsTo('api').filter((request) => request.path === GUIDE.agentsPath).at(-1)
    return { route: routeSpanOf(spans, name) as ReceivedSpan, traceId, spanId, upstream: { traceparent: received?.headers.traceparent, tracestate: received?.headers.tracestate } }
  }

  it.each([
    ['an allowed frontend (ALLOWED_ORIGINS)', 'allowed', (): Record<string, string> => ({ origin: FRONTEND })],
    ['a page this server served (its own origin)', 'own', (): Record<string, string> => ({ origin: server.base })],
    ['a caller without Origin (a same-origin GET, the gateway)', 'none', (): Record<string, string> => ({})]
  ])('from %s: the route span is the caller\'s child, and Ejento gets the same trace and its tracestate', async (_label, id, headers) => {
    const { route, traceId, spanId, upstream } = await callWith(`continued-${id}`, headers())
    expect(route.traceId).toBe(traceId)
    expect(route.parentSpanId).toBe(spanId)
    expect(route.links).toEqual([])
    expect(route.attributes['ejento_bff.traceparent']).toBe('continued')
    expect(String(upstream.traceparent)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
    expect(upstream.tracestate).toBe('caller=chosen-by-the-caller')
  })

  it.each([
    ['another site', 'elsewhere', 'https://elsewhere.example'],
    ['an opaque origin (a sandboxed frame)', 'opaque', 'null']
  ])('from %s: a new trace, linked to the caller\'s; Ejento never gets the caller\'s trace or tracestate', async (_label, id, origin) => {
    const { route, traceId, spanId, upstream } = await callWith(`linked-${id}`, { origin })
    expect(route.traceId).not.toBe(traceId)
    expect(route.parentSpanId).toBeUndefined()
    expect(route.links).toEqual([{ traceId, spanId, attributes: { 'ejento_bff.link': 'untrusted_traceparent' } }])
    expect(route.attributes['ejento_bff.traceparent']).toBe('linked')
    expect(String(upstream.traceparent)).toMatch(new RegExp(`^00-${route.traceId}-[0-9a-f]{16}-01$`))
    expect(upstream.tracestate).toBeUndefined()
  })

  it('a browser on an allowed frontend may send traceparent and tracestate (CORS preflight)', async () => {
    const answer = await fetch(`${server.base}/proxy/ejento${GUIDE.agentsPath}`, {
      method: 'OPTIONS',
      headers: { origin: FRONTEND, 'access-control-request-method': 'GET', 'access-control-request-headers': 'traceparent,tracestate' }
    })
    expect(answer.status).toBe(204)
    expect(answer.headers.get('access-control-allow-headers')).toMatch(/traceparent.*tracestate/)
  })
})
