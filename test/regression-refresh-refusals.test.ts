import { describe, expect, it } from 'vitest'
import { createThread, login, setup, sleep } from './helpers/app.js'

const REFRESH = '/api/users/refresh-access-token'

/**
 * Regression: a refresh refused with 400 ("Inactive user") or 404 (a deleted user) kept the
 * session alive and answered 502 on every call until the session timed out.
 */
describe('every refusal of a refresh ends the session (review finding)', () => {
  it.each([
    [400, { detail: 'Inactive user' }],
    [404, { detail: 'User not found' }],
    [401, { detail: 'Not authenticated' }]
  ])('a refresh answered %i ends the session: 401 session_expired', async (status, body) => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.inject({ upstream: 'auth', path: REFRESH, status, body })
    const answer = await context.app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie } })
    expect(answer.statusCode).toBe(401)
    expect(answer.json().code).toBe('session_expired')
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json()).toEqual({ authenticated: false })
  })

  it.each([429, 503])('a refresh answered %i keeps the session (the upstream is busy, not refusing)', async (status) => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.inject({ upstream: 'auth', path: REFRESH, status, body: { detail: 'busy' } })
    const answer = await context.app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie } })
    expect(answer.statusCode).toBe(502)
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json().authenticated).toBe(true)
  })
})

/** Regression: an early (proactive) refresh that failed upstream failed the call, though the tokens still worked. */
describe('a failed early refresh does not fail a call the current tokens can still make', () => {
  it('goes ahead with the current tokens when the proactive refresh gets a 5xx', async () => {
    // 4 s tokens: due for an early refresh after 2 s (half their life), still valid until 4 s.
    const context = await setup({ sim: { authTokenTtl: 4, ejentoTokenTtl: 4 } })
    const cookie = await login(context)
    await sleep(2100)
    context.sim.inject({ upstream: 'auth', path: REFRESH, status: 500 })
    const answer = await createThread(context, cookie)
    expect(answer.statusCode).toBe(201)
    expect(context.sim.counter('ejento_token_rejected')).toBe(0)
    // The next call refreshes.
    expect((await createThread(context, cookie)).statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(1)
  })
})
