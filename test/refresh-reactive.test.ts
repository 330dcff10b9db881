import { describe, expect, it } from 'vitest'
import { ADMIN, authorizationOf, createThread, login, setup, sleep } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { GUIDE, PROFILES, exactPath } from './helpers/profiles.js'

/** Kills the tokens of one kind upstream; new ones issued a few ms later are good again. */
async function expire (context: TestContext, kind: 'auth' | 'ejento' | 'all'): Promise<void> {
  context.sim.expireTokens(kind)
  await sleep(5)
}

describe.each(PROFILES)('reactive refresh on %s: an upstream refuses the token, the BFF refreshes once and retries once', (_name, profile) => {
  const REFRESH_PATH = profile.paths.auth.refresh
  const CHAT_THREAD = exactPath(profile.paths.api.chatThread('1'))
  const USERS = profile.paths.auth.users

  it('an Ejento token refused by the API server: one refresh, one retry with the NEW Ejento token, 201', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    await expire(context, 'ejento')

    const answer = await createThread(context, cookie)

    expect(answer.statusCode).toBe(201)
    expect(answer.json().data.id).toEqual(expect.any(Number))
    expect(context.sim.counter('refresh')).toBe(1)
    expect(context.sim.counter('refresh_refused')).toBe(0)
    expect(context.sim.counter('ejento_token_rejected')).toBe(1)
    expect(context.sim.counter('chat_thread')).toBe(1)

    const calls = context.sim.requestsTo('api', CHAT_THREAD)
    expect(calls).toHaveLength(2)
    const [loginPairEjento, refreshedEjento] = [context.sim.state.issuedTokens[1], context.sim.state.issuedTokens[3]]
    expect(context.sim.state.issuedTokens).toHaveLength(4)
    expect(authorizationOf(calls[0])).toBe(`Bearer ${loginPairEjento}`)
    expect(authorizationOf(calls[1])).toBe(`Bearer ${refreshedEjento}`)
    expect(authorizationOf(calls[1])).not.toBe(authorizationOf(calls[0]))

    // The refresh itself was made with the auth-app token of the log-in, between the two calls.
    const refreshes = context.sim.requestsTo('auth', /refresh-access-token$/)
    expect(refreshes).toHaveLength(1)
    expect(authorizationOf(refreshes[0])).toBe(`Bearer ${context.sim.state.issuedTokens[0]}`)
    const order = context.sim.requests.filter((request) => request === calls[0] || request === calls[1] || request === refreshes[0])
    expect(order).toEqual([calls[0], refreshes[0], calls[1]])

    // The new pair was stored: the next call needs no refresh.
    const next = await createThread(context, cookie)
    expect(next.statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(1)
    expect(authorizationOf(context.sim.requestsTo('api', CHAT_THREAD)[2])).toBe(`Bearer ${refreshedEjento}`)
  })

  it('a FastAPI 403 "Could not validate credentials" on GET /api/users/: refresh, retry with the new auth-app token, 200', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'auth', method: 'GET', path: USERS, status: 403, body: { detail: 'Could not validate credentials' } })

    const answer = await context.app.inject({ method: 'GET', url: '/api/users?skip=0&limit=10', headers: { cookie } })

    expect(answer.statusCode).toBe(200)
    expect(answer.json()).toMatchObject({ count: expect.any(Number), data: expect.any(Array) })
    expect(context.sim.counter('refresh')).toBe(1)
    const calls = context.sim.requestsTo('auth', exactPath(USERS))
    expect(calls).toHaveLength(2)
    expect(authorizationOf(calls[0])).toBe(`Bearer ${context.sim.state.issuedTokens[0]}`)
    expect(authorizationOf(calls[1])).toBe(`Bearer ${context.sim.state.issuedTokens[2]}`)
  })

  it('a 403 that is a permission refusal (normal user PATCH /api/users/{id}) passes through with no refresh', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const admin = context.sim.state.userByEmail(ADMIN.email)
    expect(admin).toBeDefined()

    const answer = await context.app.inject({
      method: 'PATCH',
      url: `/api/users/${admin?.id ?? 'missing'}`,
      headers: { cookie },
      payload: { full_name: 'Not Allowed' }
    })

    expect(answer.statusCode).toBe(403)
    expect(answer.json()).toEqual({ detail: "The user doesn't have enough privileges" })
    expect(context.sim.counter('refresh')).toBe(0)
    expect(context.sim.requestsTo('auth', exactPath(profile.paths.auth.user(admin?.id ?? 'missing'))).filter((request) => request.method === 'PATCH')).toHaveLength(1)
    // Nothing was changed, and the session is untouched.
    expect(admin?.full_name).toBe('Demo Admin')
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json().authenticated).toBe(true)
  })

  it('a 401 on the retry too passes through: one refresh, two upstream calls, no third', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const refused = { success: false, message: 'Invalid or expired token' }
    context.sim.inject({ upstream: 'api', method: 'POST', path: CHAT_THREAD, status: 401, body: refused, times: 2 })

    const answer = await createThread(context, cookie)

    expect(answer.statusCode).toBe(401)
    expect(answer.json()).toEqual(refused)
    expect(context.sim.counter('refresh')).toBe(1)
    expect(context.sim.requestsTo('api', CHAT_THREAD)).toHaveLength(2)
    expect(context.sim.counter('chat_thread')).toBe(0)

    // The session survived (the refresh itself succeeded) and works once the upstream does.
    const next = await createThread(context, cookie)
    expect(next.statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(1)
  })

  it('a refresh answered 500 is 502 upstream_error and the session is kept', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    await expire(context, 'ejento')
    context.sim.inject({ upstream: 'auth', method: 'POST', path: REFRESH_PATH, status: 500, body: { detail: 'Internal Server Error' } })

    const answer = await createThread(context, cookie)

    expect(answer.statusCode).toBe(502)
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(answer.json().code).toBe('upstream_error')
    expect(answer.headers['set-cookie']).toBeUndefined()
    expect(context.sim.requestsTo('auth', /refresh-access-token$/)).toHaveLength(1)

    await expectSessionKept(context, cookie)
  })

  it('a refresh whose connection is dropped is 502 upstream_unavailable and the session is kept', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    await expire(context, 'ejento')
    context.sim.inject({ upstream: 'auth', method: 'POST', path: REFRESH_PATH, mode: 'drop' })

    const answer = await createThread(context, cookie)

    expect(answer.statusCode).toBe(502)
    expect(answer.json().code).toBe('upstream_unavailable')
    expect(answer.headers['set-cookie']).toBeUndefined()

    await expectSessionKept(context, cookie)
  })

  it('a refresh answered 200 without tokens is 502 upstream_invalid_response and the session is kept', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    await expire(context, 'ejento')
    context.sim.inject({ upstream: 'auth', method: 'POST', path: REFRESH_PATH, status: 200, body: { success: true, message: 'Token refreshed successfully', data: {} } })

    const answer = await createThread(context, cookie)

    expect(answer.statusCode).toBe(502)
    expect(answer.json().code).toBe('upstream_invalid_response')

    await expectSessionKept(context, cookie)
  })
})

// The refresh's own time limit, and both token answer shapes (v2 always answers the envelope): one code for both profiles, run once, on the guide.
describe('reactive refresh, whatever the profile', () => {
  const REFRESH_PATH = GUIDE.paths.auth.refresh
  const CHAT_THREAD = exactPath(GUIDE.paths.api.chatThread('1'))

  it('a refresh slower than REFRESH_TIMEOUT is 504 upstream_timeout (though the API timeouts are longer) and the session is kept', async () => {
    const context = await setup({ env: { REFRESH_TIMEOUT: '300ms', UPSTREAM_HEADERS_TIMEOUT: '30s' } })
    const cookie = await login(context)
    await expire(context, 'ejento')
    context.sim.inject({ upstream: 'auth', method: 'POST', path: REFRESH_PATH, delayMs: 3000, status: 500 })
    const started = Date.now()

    const answer = await createThread(context, cookie)

    expect(answer.statusCode).toBe(504)
    expect(answer.json().code).toBe('upstream_timeout')
    expect(Date.now() - started).toBeLessThan(2500)

    // The refresh itself ran on to its (failed) end; only then is the next one tried.
    await waitFor(() => context.logs.some((line) => line.includes('"refresh":"failed"')), 10_000)
    await expectSessionKept(context, cookie)
  })

  it.each(['flat', 'envelope'] as const)('a refresh answered in the %s shape works', async (refreshShape) => {
    const context = await setup({ sim: { refreshShape } })
    const cookie = await login(context)
    await expire(context, 'ejento')

    const answer = await createThread(context, cookie)

    expect(answer.statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(1)
    const calls = context.sim.requestsTo('api', CHAT_THREAD)
    expect(authorizationOf(calls[1])).toBe(`Bearer ${context.sim.state.issuedTokens[3]}`)

    // Both new tokens were read and stored: the auth-app one works too, without another refresh.
    const users = await context.app.inject({ method: 'GET', url: '/api/users', headers: { cookie } })
    expect(users.statusCode).toBe(200)
    expect(authorizationOf(context.sim.requestsTo('auth', /^\/api\/users\/$/)[0])).toBe(`Bearer ${context.sim.state.issuedTokens[2]}`)
    expect(context.sim.counter('refresh')).toBe(1)
  })
})

/** The failed refresh kept the session: it is still logged in, and the next call (fault gone) refreshes and succeeds. */
async function expectSessionKept (context: TestContext, cookie: string): Promise<void> {
  const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
  expect(session.json().authenticated).toBe(true)

  const retry = await createThread(context, cookie)
  expect(retry.statusCode).toBe(201)
  expect(context.sim.counter('refresh')).toBe(1)
  expect(context.sim.counter('refresh_refused')).toBe(0)
}
