import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { DEMO, onFileCleanup } from './helpers/app.js'
import { childrenOf, routeSpanOf, startOtlpReceiver, startTracedServer, traceOf } from './helpers/otlp-receiver.js'
import type { OtlpReceiver, ReceivedSpan } from './helpers/otlp-receiver.js'
import { PROFILES } from './helpers/profiles.js'
import { realLogin } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/** The one child of `parent` named `name` (fails the test when there is none or more). */
function child (spans: ReceivedSpan[], parent: ReceivedSpan, name: string): ReceivedSpan {
  const found = childrenOf(spans, parent).filter((span) => span.name === name)
  expect(found.map((span) => span.name), `${name} under ${parent.name}`).toEqual([name])
  return found[0] as ReceivedSpan
}

describe.each(PROFILES)('one trace per request, from the route span to Ejento and back, on %s', (_name, profile) => {
  let sim: Simulator
  let receiver: OtlpReceiver
  let server: RealServer

  beforeAll(async () => {
    sim = await startSimulator(profile.sim)
    onFileCleanup(sim.close)
    receiver = await startOtlpReceiver(onFileCleanup)
    server = await startTracedServer(sim, receiver, profile.env, onFileCleanup)
  })

  /** Waits for the trace of the request with `requestId` until `complete` says it is whole. */
  async function traceOfRequest (requestId: string, complete: (trace: ReceivedSpan[], route: ReceivedSpan) => boolean): Promise<{ route: ReceivedSpan, trace: ReceivedSpan[] }> {
    const spans = await receiver.until((received) => {
      const route = routeSpanOf(received, requestId)
      return route !== undefined && complete(traceOf(received, route.traceId), route)
    })
    const route = routeSpanOf(spans, requestId)
    expect(route, `the route span of ${requestId}`).toBeDefined()
    return { route: route as ReceivedSpan, trace: traceOf(spans, (route as ReceivedSpan).traceId) }
  }

  it('a log-in: the route span, with the authentication call and the who-am-I call as its children', async () => {
    const answer = await fetch(`${server.base}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': `login-${profile.name}` },
      body: JSON.stringify(DEMO)
    })
    expect(answer.status).toBe(200)
    const whoAmI = profile.paths.whoAmI as { upstream: string, path: string }
    const { route, trace } = await traceOfRequest(`login-${profile.name}`, (spans) => spans.length >= 3)

    expect(route.name).toBe('POST /auth/login')
    expect(route.parentSpanId).toBeUndefined()
    expect(route.attributes).toMatchObject({ 'http.route': '/auth/login', 'http.request.method': 'POST', 'http.response.status_code': 200 })
    const login = child(trace, route, `auth POST ${profile.paths.auth.login}`)
    expect(login.attributes).toMatchObject({ 'ejento_bff.upstream': 'auth', 'url.template': profile.paths.auth.login, 'http.response.status_code': 200 })
    child(trace, route, `${whoAmI.upstream} GET ${whoAmI.path}`)
    // The authentication server got the trace: its traceparent names the log-in call's span.
    const received = sim.requestsTo('auth', new RegExp(`^${profile.paths.auth.login}`)).at(-1)
    expect(received?.headers.traceparent).toBe(`00-${route.traceId}-${login.spanId}-01`)
  })

  it('a refreshed call: the refused call, the refresh with its own upstream call, and the retry, in one trace', async () => {
    const cookie = await realLogin(server.base)
    // Ejento refuses the Ejento token it issued: the BFF refreshes and retries once.
    sim.expireTokens('ejento')
    const answer = await fetch(`${server.base}/proxy/ejento${profile.agentsPath}?page=1`, { headers: { cookie, 'x-request-id': `refreshed-${profile.name}` } })
    expect(answer.status).toBe(200)
    const { route, trace } = await traceOfRequest(`refreshed-${profile.name}`, (spans) => spans.length >= 6)

    expect(route.name).toBe('GET /proxy/ejento/*')
    child(trace, route, 'session.load')
    const calls = childrenOf(trace, route).filter((span) => span.name === `ejento GET ${profile.agentsPath}`)
    expect(calls.map((span) => span.attributes['http.response.status_code'])).toEqual([401, 200])
    const refresh = child(trace, route, 'token.refresh')
    expect(refresh.attributes).toMatchObject({
      'ejento_bff.refresh.outcome': 'refreshed',
      'ejento_bff.refresh.instance': refresh.resource['service.instance.id']
    })
    expect(typeof refresh.attributes['ejento_bff.refresh.lock_waited_ms']).toBe('number')
    expect(child(trace, refresh, `auth POST ${profile.paths.auth.refresh}`).attributes['http.response.status_code']).toBe(200)
  })

  it('a streamed answer: route, session load, refresh, the Ejento call and the stream, with Ejento joining the trace', async () => {
    const cookie = await realLogin(server.base)
    const thread = await fetch(`${server.base}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie } })
    expect(thread.status).toBe(201)
    const threadId = (await thread.json() as { data: { id: number } }).data.id
    sim.expireTokens('ejento')
    const answer = await fetch(`${server.base}/api/agents/1/responses`, {
      method: 'POST',
      headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json', 'x-request-id': `stream-${profile.name}` },
      body: JSON.stringify({ user_query: 'Which spans does one question make?', chat_thread_id: threadId })
    })
    expect(answer.status).toBe(200)
    const body = Buffer.from(await answer.arrayBuffer())
    const { route, trace } = await traceOfRequest(`stream-${profile.name}`, (spans) => spans.some((span) => span.name === 'stream'))

    expect(route.name).toBe('POST /api/agents/:agentId/responses')
    child(trace, route, 'session.load')
    const template = profile.paths.api.responseStream('{id}')
    const calls = childrenOf(trace, route).filter((span) => span.name === `ejento POST ${template}`)
    expect(calls.map((span) => span.attributes['http.response.status_code'])).toEqual([401, 200])
    expect(child(trace, route, 'token.refresh').attributes['ejento_bff.refresh.outcome']).toBe('refreshed')
    const stream = child(trace, route, 'stream')
    expect(stream.attributes).toMatchObject({ 'ejento_bff.stream.end': 'done', 'ejento_bff.stream.bytes': body.length })
    const events = body.toString('utf8').split(/\n\n/).filter((event) => event.trim() !== '').length
    expect(stream.attributes['ejento_bff.stream.events']).toBe(events)
    expect(stream.attributes['ejento_bff.stream.first_event_ms']).toBeGreaterThanOrEqual(0)

    // Ejento's side joins: the streamed call it answered carried the retry's span as parent.
    const asked = sim.requestsTo('api').filter((request) => request.method === 'POST' && request.path.startsWith(profile.paths.api.responseStream(String(1))))
    expect(asked.at(-1)?.headers.traceparent).toBe(`00-${route.traceId}-${(calls[1] as ReceivedSpan).spanId}-01`)
  })
})
