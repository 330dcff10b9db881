import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { childrenOf, routeSpanOf, startOtlpReceiver, startTracedServer } from './helpers/otlp-receiver.js'
import type { ReceivedSpan } from './helpers/otlp-receiver.js'

describe('a 404\'s spans have readable names', () => {
  it('the route span is the method, its not-found handler span `notFoundHandler` (it was named after the whole plugin chain); no raw path', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const receiver = await startOtlpReceiver()
    const server = await startTracedServer(sim, receiver)
    const answer = await fetch(`${server.base}/no-such-page/secret-in-path-8c1d`, { headers: { 'x-request-id': 'not-found' } })
    expect(answer.status).toBe(404)
    const spans = await receiver.until((received) => {
      const route = routeSpanOf(received, 'not-found')
      return route !== undefined && childrenOf(received, route).length > 0
    })
    const route = routeSpanOf(spans, 'not-found')
    expect(route?.name).toBe('GET')
    expect(route).toBeDefined()
    expect(childrenOf(spans, route as ReceivedSpan).map((span) => span.name)).toEqual(['notFoundHandler'])
    expect(receiver.text()).not.toContain('secret-in-path-8c1d')
    expect(receiver.text()).not.toContain(' -> ')
  })
})
