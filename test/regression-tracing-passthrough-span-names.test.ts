import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { pathTemplate } from '../src/tracing/path-template.js'
import { onCleanup } from './helpers/app.js'
import { startOtlpReceiver, startTracedServer, traceOf } from './helpers/otlp-receiver.js'
import { realLogin } from './helpers/real-server.js'

// Found attacking issue 15: on the passthrough, any lowercase word of the path stayed in the
// upstream span's name, so a logged-in caller chose span names at will (unbounded names for
// the collector, and a word that is a name or a secret exported as it is).
describe('regression: passthrough words became span names', () => {
  it('words the path profiles do not use read {id}; the profiles\' words, versions and the named calls stay readable', () => {
    expect(pathTemplate('/api/secretword/anotherpersonalword')).toBe('/api/{id}/{id}')
    expect(pathTemplate('/api/v2/chat-threads/42/agent-responses?include_steps=true')).toBe('/api/v2/chat-threads/{id}/agent-responses')
    expect(pathTemplate('/api/agent/7/chat-thread')).toBe('/api/agent/{id}/chat-thread')
    expect(pathTemplate('/auth-service/api/v2/users/me/password')).toBe('/auth-service/api/v2/users/me/password')
    expect(pathTemplate('/response-service/api/v2/agents/5/responses/stream')).toBe('/response-service/api/v2/agents/{id}/responses/stream')
  })

  it('on the compiled server: a passthrough call\'s upstream span names no word of the caller\'s choosing', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const receiver = await startOtlpReceiver()
    const server = await startTracedServer(sim, receiver)
    const cookie = await realLogin(server.base)
    const answer = await fetch(`${server.base}/proxy/ejento/api/agents/privateprojectname`, { headers: { cookie, 'x-request-id': 'passthrough-words' } })
    await answer.arrayBuffer()
    const spans = await receiver.until((received) => received.some((span) => span.name.startsWith('ejento GET')))
    const upstream = spans.find((span) => span.name.startsWith('ejento GET'))
    expect(upstream?.name).toBe('ejento GET /api/agents/{id}')
    expect(traceOf(spans, upstream?.traceId ?? '').length).toBeGreaterThan(1)
    expect(receiver.text()).not.toContain('privateprojectname')
  })
})
