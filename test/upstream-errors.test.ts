import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { DEMO, login, secretsIn, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { GUIDE, PROFILES, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

type Call = { method: 'GET' | 'POST' | 'PATCH', url: string, payload?: Record<string, unknown> }

/** One named route per upstream, and where its upstream call lands on this profile. */
function routesOf (profile: TestProfile): Record<'api' | 'auth', { call: Call, upstreamPath: string }> {
  return {
    api: { call: { method: 'POST', url: '/api/agents/1/chat-threads' }, upstreamPath: profile.paths.api.chatThread('1') },
    auth: { call: { method: 'GET', url: '/api/users' }, upstreamPath: profile.paths.auth.users }
  }
}

async function send (context: TestContext, cookie: string, call: Call): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: call.method, url: call.url, headers: { cookie }, ...(call.payload === undefined ? {} : { payload: call.payload }) })
}

/** A BFF-made error: problem details with this status and code, and no token anywhere in the answer or the logs. */
function expectProblem (context: TestContext, response: LightMyRequestResponse, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toContain('application/problem+json')
  const body = response.json()
  expect(body).toMatchObject({ type: 'about:blank', status, code })
  expect(typeof body.title).toBe('string')
  expectNoToken(context, response)
}

function expectNoToken (context: TestContext, response: LightMyRequestResponse): void {
  const tokens = context.sim.state.issuedTokens
  expect(tokens.length).toBeGreaterThan(0)
  expect(secretsIn(response.body, tokens)).toEqual([])
  expect(secretsIn(JSON.stringify(response.headers), tokens)).toEqual([])
  expect(secretsIn(context.logs.join('\n'), tokens)).toEqual([])
}

async function loggedInOn (profile: TestProfile, options: Parameters<typeof setup>[0] = {}): Promise<{ context: TestContext, cookie: string }> {
  const context = await setup({ profile, ...options })
  const cookie = await login(context)
  return { context, cookie }
}

describe.each(PROFILES)('upstream 4xx answers pass through with their status and body on %s', (_name, profile) => {
  const ROUTES = routesOf(profile)
  const loggedIn = async (): Promise<{ context: TestContext, cookie: string }> => await loggedInOn(profile)

  it('an Ejento 404 {success:false, message}', async () => {
    const { context, cookie } = await loggedIn()
    const upstreamBody = { success: false, message: 'Agent 1 is archived' }
    context.sim.inject({ upstream: 'api', method: 'POST', path: ROUTES.api.upstreamPath, status: 404, body: upstreamBody })
    const response = await send(context, cookie, ROUTES.api.call)
    expect(response.statusCode).toBe(404)
    expect(response.headers['content-type']).toContain('application/json')
    expect(response.json()).toEqual(upstreamBody)
    expectNoToken(context, response)
  })

  it('an Ejento 403 that is not about the token, without a refresh', async () => {
    const { context, cookie } = await loggedIn()
    const upstreamBody = { success: false, message: 'You do not have access to this agent' }
    context.sim.inject({ upstream: 'api', method: 'POST', path: ROUTES.api.upstreamPath, status: 403, body: upstreamBody })
    const response = await send(context, cookie, ROUTES.api.call)
    expect(response.statusCode).toBe(403)
    expect(response.json()).toEqual(upstreamBody)
    expect(context.sim.counter('refresh')).toBe(0)
    expect(context.sim.requestsTo('api', exactPath(ROUTES.api.upstreamPath))).toHaveLength(1)
  })

  it('an authentication-server 422 with FastAPI validation details', async () => {
    const { context, cookie } = await loggedIn()
    const upstreamBody = { detail: [{ loc: ['query', 'limit'], msg: 'Input should be less than 500', type: 'less_than' }] }
    context.sim.inject({ upstream: 'auth', method: 'GET', path: ROUTES.auth.upstreamPath, status: 422, body: upstreamBody })
    const response = await send(context, cookie, ROUTES.auth.call)
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual(upstreamBody)
  })

  it('a 429 keeps its Retry-After header', async () => {
    const { context, cookie } = await loggedIn()
    context.sim.inject({ upstream: 'api', method: 'POST', path: ROUTES.api.upstreamPath, status: 429, body: { success: false, message: 'Slow down' }, headers: { 'retry-after': '7' } })
    const response = await send(context, cookie, ROUTES.api.call)
    expect(response.statusCode).toBe(429)
    expect(response.headers['retry-after']).toBe('7')
    expect(response.json()).toEqual({ success: false, message: 'Slow down' })
  })

  it('an authentication-server 4xx loses any token field on the way', async () => {
    const { context, cookie } = await loggedIn()
    const [token] = context.sim.state.issuedTokens
    context.sim.inject({ upstream: 'auth', method: 'GET', path: ROUTES.auth.upstreamPath, status: 409, body: { detail: 'Conflict', access_token: token } })
    const response = await send(context, cookie, ROUTES.auth.call)
    expect(response.statusCode).toBe(409)
    expect(response.json()).toEqual({ detail: 'Conflict' })
    expectNoToken(context, response)
  })

  it('a 4xx whose body is not JSON becomes a problem with the same status', async () => {
    const { context, cookie } = await loggedIn()
    context.sim.inject({ upstream: 'api', method: 'POST', path: ROUTES.api.upstreamPath, status: 400, body: '<html>Bad Request</html>' })
    const response = await send(context, cookie, ROUTES.api.call)
    expectProblem(context, response, 400, 'upstream_rejected')
    expect(response.body).not.toContain('<html>')
  })
})

describe.each(PROFILES)('on %s', (_name, profile) => describe.each(['api', 'auth'] as const)('failures of the %s upstream', (upstream) => {
  const route = routesOf(profile)[upstream]
  const loggedIn = async (options: Parameters<typeof setup>[0] = {}): Promise<{ context: TestContext, cookie: string }> => await loggedInOn(profile, options)

  it.each([500, 503])('an upstream %i becomes 502 upstream_error without its body', async (status) => {
    const { context, cookie } = await loggedIn()
    const [token] = context.sim.state.issuedTokens
    context.sim.inject({ upstream, path: route.upstreamPath, status, body: { detail: `stack trace mentioning ${String(token)}`, message: 'internal' } })
    const response = await send(context, cookie, route.call)
    expectProblem(context, response, 502, 'upstream_error')
    expect(response.body).not.toContain('stack trace')
  })

  it('a 2xx answer that is not JSON becomes 502 upstream_invalid_response', async () => {
    const { context, cookie } = await loggedIn()
    context.sim.inject({ upstream, path: route.upstreamPath, mode: 'garbage' })
    const response = await send(context, cookie, route.call)
    expectProblem(context, response, 502, 'upstream_invalid_response')
    expect(response.body).not.toContain('<html>')
  })

  it('a dropped connection becomes 502 upstream_unavailable', async () => {
    const { context, cookie } = await loggedIn()
    context.sim.inject({ upstream, path: route.upstreamPath, mode: 'drop' })
    const response = await send(context, cookie, route.call)
    expectProblem(context, response, 502, 'upstream_unavailable')
  })

  it('an upstream that is down gives 502 upstream_unavailable, and the BFF stays up', async () => {
    const { context, cookie } = await loggedIn()
    await context.sim.close()
    const response = await send(context, cookie, route.call)
    expectProblem(context, response, 502, 'upstream_unavailable')
    const health = await context.app.inject({ method: 'GET', url: '/healthz' })
    expect(health.statusCode).toBe(200)
    expect(health.json()).toEqual({ status: 'ok' })
    // The session survives an upstream outage.
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json().authenticated).toBe(true)
  })

  it.each([
    ['an answer delayed past UPSTREAM_HEADERS_TIMEOUT', { delayMs: 2000 }],
    ['an upstream that never answers', { mode: 'hang' as const }]
  ])('%s gives 504 upstream_timeout in time, and the next call works', async (_name, fault) => {
    const { context, cookie } = await loggedIn({ env: { UPSTREAM_HEADERS_TIMEOUT: '300ms' } })
    context.sim.inject({ upstream, path: route.upstreamPath, ...fault })
    const started = Date.now()
    const response = await send(context, cookie, route.call)
    const elapsed = Date.now() - started
    expectProblem(context, response, 504, 'upstream_timeout')
    expect(elapsed).toBeGreaterThanOrEqual(250)
    // Well before the 2 s delay: the BFF gave up at its own timeout.
    expect(elapsed).toBeLessThan(1800)
    const next = await send(context, cookie, route.call)
    expect(next.statusCode).toBe(upstream === 'api' ? 201 : 200)
  })
}))

// The BFF's own errors are one code for both profiles: a run of them, and a hang beside other users, once, on the guide.
describe('a BFF-made upstream error never costs the session', () => {
  const ROUTES = routesOf(GUIDE)
  const loggedIn = async (options: Parameters<typeof setup>[0] = {}): Promise<{ context: TestContext, cookie: string }> => await loggedInOn(GUIDE, options)

  it('keeps the session and the tokens after a run of failures', async () => {
    const { context, cookie } = await loggedIn({ env: { UPSTREAM_HEADERS_TIMEOUT: '300ms' } })
    context.sim.inject({ upstream: 'api', path: ROUTES.api.upstreamPath, status: 500 })
    context.sim.inject({ upstream: 'api', path: ROUTES.api.upstreamPath, mode: 'garbage' })
    context.sim.inject({ upstream: 'api', path: ROUTES.api.upstreamPath, mode: 'drop' })
    context.sim.inject({ upstream: 'api', path: ROUTES.api.upstreamPath, mode: 'hang' })
    const codes: string[] = []
    for (let attempt = 0; attempt < 4; attempt++) codes.push((await send(context, cookie, ROUTES.api.call)).json().code)
    expect(codes).toEqual(['upstream_error', 'upstream_invalid_response', 'upstream_unavailable', 'upstream_timeout'])
    const ok = await send(context, cookie, ROUTES.api.call)
    expect(ok.statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(0)
    expect(context.sim.counter('login')).toBe(1)
  })

  it('still answers other users while one upstream call hangs', async () => {
    const { context, cookie } = await loggedIn({ env: { UPSTREAM_HEADERS_TIMEOUT: '1500ms' } })
    const other = await login(context, DEMO)
    context.sim.inject({ upstream: 'api', path: ROUTES.api.upstreamPath, mode: 'hang' })
    let hangingSettled = false
    const hanging = send(context, cookie, ROUTES.api.call).finally(() => { hangingSettled = true })
    const quick = await send(context, other, ROUTES.auth.call)
    expect(quick.statusCode).toBe(200)
    expect(hangingSettled).toBe(false)
    expect((await hanging).json().code).toBe('upstream_timeout')
  })
})
