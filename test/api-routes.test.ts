import { describe, expect, it } from 'vitest'
import type { RecordedRequest } from '../src/simulator/index.js'
import { ADMIN, DEMO, login, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { PROFILES, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

const BROWSER_AUTHORIZATION = 'Bearer browser-token'

/** The `typ` claim ('auth' or 'ejento') of the simulator JWT in a recorded Authorization header. */
function tokenKind (authorization: string | string[] | undefined): unknown {
  expect(typeof authorization).toBe('string')
  const match = /^Bearer (\S+)$/.exec(authorization as string)
  expect(match).not.toBeNull()
  const payload = (match?.[1] ?? '').split('.')[1] ?? ''
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { typ?: unknown }).typ
}

function userId (context: TestContext, email: string): string {
  const user = context.sim.state.userByEmail(email)
  if (user === undefined) throw new Error(`no simulator user ${email}`)
  return user.id
}

function jsonOf (request: RecordedRequest): unknown {
  return JSON.parse(request.body.toString('utf8'))
}

interface RouteCase {
  name: string
  credentials: { email: string, password: string }
  /** Builds the browser call once logged in (some need ids from the simulator). */
  call: (context: TestContext) => { method: 'GET' | 'POST' | 'PATCH', url: string, payload?: Record<string, unknown> }
  upstream: 'auth' | 'api'
  upstreamMethod: string
  /** Path and query the upstream must receive. */
  upstreamUrl: (context: TestContext) => string
  /** The JSON body the upstream must receive, when it is not the browser's own. */
  upstreamBody?: Record<string, unknown>
  token: 'auth' | 'ejento'
  status: number
  check: (body: any, context: TestContext) => void
}

/** Every named API route, with where it lands on this profile's upstream. */
function routesOf (profile: TestProfile): RouteCase[] {
  const { auth, api } = profile.paths
  return [
    {
      name: 'POST /api/agents/:agentId/chat-threads',
      credentials: DEMO,
      call: () => ({ method: 'POST', url: '/api/agents/1/chat-threads' }),
      upstream: 'api',
      upstreamMethod: 'POST',
      upstreamUrl: () => api.chatThread('1'),
      // v2 is told the agent and the creator; the guide's thread needs nothing.
      upstreamBody: profile.name === 'v2' ? { agent: 1, created_by: DEMO.email } : {},
      token: 'ejento',
      status: 201,
      check: (body) => {
        expect(body).toMatchObject({ success: true, data: profile.name === 'v2' ? { agent: 1, created_by: DEMO.email } : { agent_id: 1 } })
        expect(typeof body.data.id).toBe('number')
      }
    },
    {
      name: 'POST /api/agents/:agentId/responses',
      credentials: DEMO,
      call: (context) => {
        const threadId = context.sim.state.newThread(1, userId(context, DEMO.email))
        return { method: 'POST', url: '/api/agents/1/responses', payload: { user_query: 'What is Ejento?', chat_thread_id: threadId } }
      },
      upstream: 'api',
      upstreamMethod: 'POST',
      upstreamUrl: () => api.response('1'),
      token: 'ejento',
      status: 200,
      check: (body) => {
        expect(body.success).toBe(true)
        expect(body.data.answer).toContain('What is Ejento?')
      }
    },
    {
      name: 'GET /api/users',
      credentials: DEMO,
      call: () => ({ method: 'GET', url: '/api/users?skip=1&limit=1' }),
      upstream: 'auth',
      upstreamMethod: 'GET',
      upstreamUrl: () => `${auth.users}?skip=1&limit=1`,
      token: 'auth',
      status: 200,
      check: (body) => {
        expect(body.count).toBe(2)
        expect(body.data).toHaveLength(1)
        expect(body.data[0]).not.toHaveProperty('passwordHash')
      }
    },
    {
      name: 'PATCH /api/users/me/password',
      credentials: DEMO,
      call: () => ({ method: 'PATCH', url: '/api/users/me/password', payload: { current_password: DEMO.password, new_password: 'a-brand-new-password' } }),
      upstream: 'auth',
      upstreamMethod: 'PATCH',
      upstreamUrl: () => auth.ownPassword,
      token: 'auth',
      status: 200,
      // No other session of the user to end; this one was renewed.
      check: (body) => { expect(body).toEqual({ message: 'Password updated successfully', ended_sessions: 0 }) }
    },
    {
      name: 'PATCH /api/users/:userId',
      credentials: ADMIN,
      call: (context) => ({ method: 'PATCH', url: `/api/users/${userId(context, DEMO.email)}`, payload: { full_name: 'Renamed By Admin' } }),
      upstream: 'auth',
      upstreamMethod: 'PATCH',
      upstreamUrl: (context) => auth.user(userId(context, DEMO.email)),
      token: 'auth',
      status: 200,
      check: (body, context) => {
        expect(body).toMatchObject({ id: userId(context, DEMO.email), email: DEMO.email, full_name: 'Renamed By Admin' })
      }
    }
  ]
}

describe.each(PROFILES)('named API routes forward to the right upstream path with the right token on %s', (_name, profile) => {
  const key = profile.env.EJENTO_SUBSCRIPTION_KEY

  it.each(routesOf(profile).map((route) => [route.name, route] as const))('%s', async (_route, route) => {
    const context = await setup({ profile })
    const cookie = await login(context, route.credentials)
    const call = route.call(context)
    const before = context.sim.requests.length
    const requestId = `req-${route.upstream}-${route.upstreamMethod.toLowerCase()}-1`

    const response = await context.app.inject({
      method: call.method,
      url: call.url,
      headers: { cookie, authorization: BROWSER_AUTHORIZATION, 'x-request-id': requestId },
      ...(call.payload === undefined ? {} : { payload: call.payload })
    })

    expect(response.statusCode, response.body).toBe(route.status)
    expect(response.headers['content-type']).toContain('application/json')
    expect(response.headers['x-request-id']).toBe(requestId)
    route.check(response.json(), context)

    // Exactly one upstream call: no refresh, no retry.
    const sent = context.sim.requests.slice(before)
    expect(sent.map((request) => `${request.upstream} ${request.method} ${request.url}`))
      .toEqual([`${route.upstream} ${route.upstreamMethod} ${route.upstreamUrl(context)}`])
    const upstream = sent[0] as RecordedRequest
    expect(upstream.headers.authorization).not.toBe(BROWSER_AUTHORIZATION)
    expect(upstream.headers.authorization).not.toContain('browser-token')
    expect(tokenKind(upstream.headers.authorization)).toBe(route.token)
    expect(context.sim.state.issuedTokens).toContain((upstream.headers.authorization as string).slice('Bearer '.length))
    expect(upstream.headers['x-request-id']).toBe(requestId)
    expect(upstream.headers.cookie).toBeUndefined()
    if (key !== undefined) {
      expect(upstream.headers['ocp-apim-subscription-key']).toBe(key)
      expect(context.sim.counter('subscription_key_rejected')).toBe(0)
      // The key is a server secret: never in the answer.
      expect(response.body).not.toContain(key)
      expect(JSON.stringify(response.headers)).not.toContain(key)
    } else {
      expect(upstream.headers).not.toHaveProperty('ocp-apim-subscription-key')
    }
    const upstreamBody = route.upstreamBody ?? call.payload
    if (upstreamBody !== undefined) expect(jsonOf(upstream)).toEqual(upstreamBody)
  })

  it(key === undefined ? 'sends no gateway key on any upstream call' : 'sends the gateway key on every upstream call, the log-in too', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    expect((await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie } })).statusCode).toBe(201)
    expect((await context.app.inject({ method: 'GET', url: '/api/users', headers: { cookie } })).statusCode).toBe(200)
    const paths = context.sim.requests.map((request) => request.path)
    for (const path of [profile.paths.auth.login, profile.paths.api.chatThread('1'), profile.paths.auth.users]) expect(paths).toContain(path)
    for (const request of context.sim.requests) expect(request.headers['ocp-apim-subscription-key'], request.path).toBe(key)
  })

  it('GET /api/users passes the defaults skip=0 and limit=100 when the browser gives none', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const response = await context.app.inject({ method: 'GET', url: '/api/users', headers: { cookie } })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ count: 2 })
    expect(response.json().data).toHaveLength(2)
    expect(context.sim.requestsTo('auth', exactPath(profile.paths.auth.users)).map((request) => request.url)).toEqual([`${profile.paths.auth.users}?skip=0&limit=100`])
  })

  it('GET /api/users passes skip and limit through', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const response = await context.app.inject({ method: 'GET', url: '/api/users?skip=0&limit=1', headers: { cookie } })
    expect(response.statusCode).toBe(200)
    expect(response.json().data).toHaveLength(1)
    expect(context.sim.requestsTo('auth', exactPath(profile.paths.auth.users)).map((request) => request.url)).toEqual([`${profile.paths.auth.users}?skip=0&limit=1`])
  })

  it('PATCH /api/users/me/password changes the password end to end: the new one logs in, the old one no longer does', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const newPassword = 'changed-demo-password'
    const response = await context.app.inject({
      method: 'PATCH',
      url: '/api/users/me/password',
      headers: { cookie },
      payload: { current_password: DEMO.password, new_password: newPassword }
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ message: 'Password updated successfully', ended_sessions: 0 })
    expect(response.body).not.toContain(newPassword)

    const old = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(old.statusCode).toBe(401)
    expect(old.json().code).toBe('invalid_credentials')
    await expect(login(context, { email: DEMO.email, password: newPassword })).resolves.toMatch(/=/)
  })

  it('PATCH /api/users/me/password passes the upstream 400 through when the current password is wrong', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const response = await context.app.inject({
      method: 'PATCH',
      url: '/api/users/me/password',
      headers: { cookie },
      payload: { current_password: 'not-the-password', new_password: 'another-password-1' }
    })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({ detail: 'Incorrect password' })
    expect(context.sim.counter('refresh')).toBe(0)
    // Nothing changed: the old password still works.
    await expect(login(context)).resolves.toMatch(/=/)
  })

  it('PATCH /api/users/:userId passes the upstream 403 for a normal user through, without any token refresh', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const target = userId(context, ADMIN.email)
    const before = context.sim.requests.length
    const response = await context.app.inject({ method: 'PATCH', url: `/api/users/${target}`, headers: { cookie }, payload: { is_superuser: false } })
    expect(response.statusCode).toBe(403)
    expect(response.json()).toEqual({ detail: "The user doesn't have enough privileges" })
    expect(context.sim.counter('refresh')).toBe(0)
    expect(context.sim.requests.slice(before).map((request) => request.url)).toEqual([profile.paths.auth.user(target)])
    // The session is intact.
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json().authenticated).toBe(true)
    expect(context.sim.state.userByEmail(ADMIN.email)?.is_superuser).toBe(true)
  })

  it('PATCH /api/users/:userId lets an admin update another user', async () => {
    const context = await setup({ profile })
    const cookie = await login(context, ADMIN)
    const target = userId(context, DEMO.email)
    const response = await context.app.inject({
      method: 'PATCH',
      url: `/api/users/${target}`,
      headers: { cookie },
      payload: { full_name: 'Demo Renamed', password: 'admin-set-password' }
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ id: target, email: DEMO.email, full_name: 'Demo Renamed', is_active: true, is_superuser: false })
    expect(response.body).not.toContain('admin-set-password')
    expect(context.sim.state.userByEmail(DEMO.email)?.full_name).toBe('Demo Renamed')
    await expect(login(context, { email: DEMO.email, password: 'admin-set-password' })).resolves.toMatch(/=/)
  })

  it('PATCH /api/users/:userId passes the upstream 404 through for an unknown user id', async () => {
    const context = await setup({ profile })
    const cookie = await login(context, ADMIN)
    const response = await context.app.inject({ method: 'PATCH', url: '/api/users/00000000-0000-4000-8000-000000000000', headers: { cookie }, payload: { full_name: 'x' } })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ detail: 'The user with this id does not exist in the system' })
  })
})

// What follows ends in the BFF (the request id, a missing session, the BFF's own validation),
// one code for both profiles: run once, on the guide.
describe('named API routes, whatever the profile', () => {
  it('creates a new request id when the caller sends none, and forwards that same id upstream', async () => {
    const context = await setup()
    const cookie = await login(context)
    const response = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie } })
    expect(response.statusCode).toBe(201)
    const id = response.headers['x-request-id']
    expect(typeof id).toBe('string')
    expect((id as string).length).toBeGreaterThan(0)
    const [upstream] = context.sim.requestsTo('api', /chat-thread$/)
    expect(upstream?.headers['x-request-id']).toBe(id)
  })
})

describe('anonymous calls', () => {
  const CALLS = [
    { method: 'POST', url: '/api/agents/1/chat-threads' },
    { method: 'POST', url: '/api/agents/1/responses', payload: { user_query: 'hi', chat_thread_id: 1 } },
    { method: 'GET', url: '/api/users' },
    { method: 'PATCH', url: '/api/users/me/password', payload: { current_password: 'demo-password', new_password: 'new-password-1' } },
    { method: 'PATCH', url: '/api/users/42', payload: { full_name: 'x' } }
  ] as const

  it.each(CALLS.map((call) => [`${call.method} ${call.url}`, call] as const))('%s answers 401 not_authenticated and never reaches upstream', async (_name, call) => {
    const context = await setup()
    for (const headers of [{}, { authorization: BROWSER_AUTHORIZATION }, { cookie: 'ejento_bff=forged.value' }]) {
      const response = await context.app.inject({
        method: call.method,
        url: call.url,
        headers,
        ...('payload' in call ? { payload: call.payload } : {})
      })
      expect(response.statusCode).toBe(401)
      expect(response.headers['content-type']).toContain('application/problem+json')
      expect(response.json()).toMatchObject({ type: 'about:blank', status: 401, code: 'not_authenticated' })
    }
    expect(context.sim.requests).toHaveLength(0)
  })
})

describe('GET /api/users', () => {
  it.each(['limit=0', 'limit=5000', 'skip=-1', 'skip=abc', 'limit=abc', 'limit=1.5'])('answers 400 validation_failed for %s and never reaches upstream', async (query) => {
    const context = await setup()
    const cookie = await login(context)
    const before = context.sim.requests.length
    const response = await context.app.inject({ method: 'GET', url: `/api/users?${query}`, headers: { cookie } })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(response.json()).toMatchObject({ status: 400, code: 'validation_failed' })
    expect(context.sim.requests.length).toBe(before)
  })
})

describe('PATCH /api/users/me/password', () => {
  it.each([
    ['a too short new password', { current_password: DEMO.password, new_password: 'short' }],
    ['a too long new password', { current_password: DEMO.password, new_password: 'x'.repeat(129) }],
    ['a missing current password', { new_password: 'long-enough-password' }],
    ['no body fields at all', {}]
  ] as const)('answers 400 validation_failed for %s without calling upstream', async (_name, payload) => {
    const context = await setup()
    const cookie = await login(context)
    const before = context.sim.requests.length
    const response = await context.app.inject({ method: 'PATCH', url: '/api/users/me/password', headers: { cookie }, payload })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(response.json()).toMatchObject({ code: 'validation_failed' })
    expect(context.sim.requests.slice(before)).toHaveLength(0)
  })

  it('refuses unexpected body fields with 400 before the call reaches upstream', async () => {
    const context = await setup()
    const cookie = await login(context)
    const before = context.sim.requests.length
    const payload = { current_password: DEMO.password, new_password: 'long-enough-password', email: 'x@example.com' }
    const response = await context.app.inject({ method: 'PATCH', url: '/api/users/me/password', headers: { cookie }, payload })
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('validation_failed')
    expect(context.sim.requests.slice(before)).toHaveLength(0)
    expect(context.sim.state.userByEmail(DEMO.email)?.email).toBe(DEMO.email)
  })
})

describe('PATCH /api/users/:userId', () => {
  it('never sends unknown body fields upstream', async () => {
    const context = await setup()
    const cookie = await login(context, ADMIN)
    const target = userId(context, DEMO.email)
    const before = context.sim.requests.length
    const response = await context.app.inject({
      method: 'PATCH',
      url: `/api/users/${target}`,
      headers: { cookie },
      payload: { full_name: 'Kept', hashed_password: 'planted', role: 'owner', id: 'other-id' }
    })
    // Fields the schema does not list are refused, not silently dropped.
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('validation_failed')
    expect(context.sim.requests.slice(before)).toHaveLength(0)
    expect(context.sim.state.userByEmail(DEMO.email)?.full_name).not.toBe('Kept')
  })

  it('never sends an update made only of unknown fields upstream (it would be an empty update)', async () => {
    const context = await setup()
    const cookie = await login(context, ADMIN)
    const target = userId(context, DEMO.email)
    const before = context.sim.requests.length
    const response = await context.app.inject({ method: 'PATCH', url: `/api/users/${target}`, headers: { cookie }, payload: { role: 'owner' } })
    // Like {}, an update that holds nothing the schema knows is a 400; today the unknown field is
    // stripped after `minProperties` passed, and an empty update `{}` goes upstream.
    const sent = context.sim.requests.slice(before).map((request) => request.body.toString('utf8'))
    expect(sent, 'bodies sent upstream').toEqual([])
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('validation_failed')
  })

  it.each([
    ['an empty body {}', {}],
    ['an invalid email', { email: 'not-an-email' }],
    ['a non-boolean is_superuser', { is_superuser: 'yes' }],
    ['a too short password', { password: 'short' }]
  ] as const)('answers 400 validation_failed for %s and never reaches upstream', async (_name, payload) => {
    const context = await setup()
    const cookie = await login(context, ADMIN)
    const before = context.sim.requests.length
    const response = await context.app.inject({ method: 'PATCH', url: `/api/users/${userId(context, DEMO.email)}`, headers: { cookie }, payload })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(response.json()).toMatchObject({ code: 'validation_failed' })
    expect(context.sim.requests.slice(before)).toHaveLength(0)
  })
})
