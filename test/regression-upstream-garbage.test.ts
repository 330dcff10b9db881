import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { startChaosUpstream } from './helpers/chaos-upstream.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'

// undici reports a reply that does not even start with "HTTP/" as an HTTPParserError with no
// HPE_ code; it was taken for a connection failure: 502 upstream_unavailable, "could not be reached".
describe('regression: an upstream answering bytes that are not HTTP was reported as unreachable', () => {
  it('502 upstream_invalid_response on a named route and on log-in, counted as invalid_response', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const chaos = await startChaosUpstream(sim)
    const server = await startRealServer(chaos)
    const cookie = await realLogin(server.base)

    chaos.arm('garbage', { upstream: 'ejento', path: /chat-thread$/ })
    const thread = await fetch(`${server.base}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' })
    expect(thread.status).toBe(502)
    expect(thread.headers.get('content-type')).toContain('application/problem+json')
    expect(await thread.json()).toMatchObject({ code: 'upstream_invalid_response' })

    chaos.arm('garbage', { upstream: 'auth', path: /access-token$/ })
    const login = await fetch(`${server.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'demo@example.com', password: 'demo-password' }) })
    expect(login.status).toBe(502)
    expect(await login.json()).toMatchObject({ code: 'upstream_invalid_response' })

    const metrics = await (await fetch(`${server.base}/metrics`)).text()
    expect(metrics).toMatch(/^ejento_bff_upstream_request_duration_seconds_count\{upstream="ejento",status="invalid_response"\} 1$/m)
    expect(metrics).toMatch(/^ejento_bff_upstream_request_duration_seconds_count\{upstream="auth",status="invalid_response"\} 1$/m)
    expect(await alive(server)).toBe(true)
  })
})
