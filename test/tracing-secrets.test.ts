import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { DEMO, onCleanup } from './helpers/app.js'
import { startOtlpReceiver, startTracedServer } from './helpers/otlp-receiver.js'
import { PROFILES } from './helpers/profiles.js'
import { realLogin } from './helpers/real-server.js'

const QUERY_SECRET = 'query-secret-9f8e7d6c5b4a'
const BODY_SECRET = 'body-secret-in-broken-json-1234'
const TRACESTATE_SECRET = 'tracestate-secret-5678'

describe.each(PROFILES)('no secret in the exported spans, on %s', (_name, profile) => {
  it('tokens, the session cookie, password, e-mail, query values, bodies and raw paths with ids appear in no byte the collector receives', async () => {
    const sim = await startSimulator(profile.sim)
    onCleanup(sim.close)
    const receiver = await startOtlpReceiver()
    const server = await startTracedServer(sim, receiver, profile.env)

    const cookie = await realLogin(server.base)
    const thread = await fetch(`${server.base}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie } })
    const threadId = (await thread.json() as { data: { id: number } }).data.id
    sim.expireTokens('ejento')
    const streamed = await fetch(`${server.base}/api/agents/1/responses`, {
      method: 'POST',
      headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json', tracestate: `vendor=${TRACESTATE_SECRET}` },
      body: JSON.stringify({ user_query: 'Is anything secret in my trace?', chat_thread_id: threadId })
    })
    expect(streamed.status).toBe(200)
    await streamed.arrayBuffer()
    await (await fetch(`${server.base}/proxy/ejento${profile.agentsPath}?access_token=${QUERY_SECRET}&email=${encodeURIComponent(DEMO.email)}`, { headers: { cookie } })).arrayBuffer()
    await (await fetch(`${server.base}/api/chat-threads/${threadId}/responses`, { headers: { cookie } })).arrayBuffer()
    // A body the JSON parser refuses: its error message quotes the body.
    await (await fetch(`${server.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"email": "${DEMO.email}", "password": "${BODY_SECRET}"` })).arrayBuffer()
    await (await fetch(`${server.base}/auth/logout`, { method: 'POST', headers: { cookie } })).arrayBuffer()
    const spans = await receiver.until((received) => received.some((span) => span.name === 'POST /auth/logout') && received.some((span) => span.name === 'stream'))

    // Every credential that travelled: the tokens the BFF sent upstream (and got back from a refresh), the gateway key.
    const tokens = sim.requests.flatMap((request) => /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1] ?? [])
    expect(tokens.length).toBeGreaterThan(3)
    const cookieValue = cookie.slice(cookie.indexOf('=') + 1)
    const secrets = [
      ...tokens, cookieValue, decodeURIComponent(cookieValue), cookieValue.split('.')[0] as string,
      DEMO.password, DEMO.email, QUERY_SECRET, BODY_SECRET, TRACESTATE_SECRET,
      ...(profile.sim.subscriptionKey === undefined ? [] : [profile.sim.subscriptionKey])
    ]
    const exported = receiver.text()
    expect(exported.length).toBeGreaterThan(1000)
    expect(secrets.filter((secret) => exported.includes(secret))).toEqual([])

    // No raw path: every name and string value that is a path is a template (no numeric segment, no query).
    const texts = spans.flatMap((span) => [span.name, ...Object.values(span.attributes).filter((value): value is string => typeof value === 'string')])
    expect(texts.filter((text) => /\/\d+(?:\/|$|\s)|\?/.test(text))).toEqual([])
    expect(spans.filter((span) => span.events.length > 0 || span.status.message !== undefined)).toEqual([])
    const keys = new Set(spans.flatMap((span) => Object.keys(span.attributes)))
    expect([...keys].filter((key) => /header|url\.(?:full|path|query)|user_agent|cookie|token|password|email/.test(key))).toEqual([])
    expect(spans.map((span) => span.name)).toEqual(expect.arrayContaining(['GET /api/chat-threads/:threadId/responses', 'token.refresh']))
  })
})
