import { describe, expect, it } from 'vitest'
import { DEMO, login, sessionCookie, setup } from './helpers/app.js'
import { PROFILES, exactPath } from './helpers/profiles.js'

describe.each(PROFILES)('POST /auth/login on %s', (_name, profile) => {
  const LOGIN = profile.paths.auth.login

  it('logs in with JSON, keeps the tokens server-side and answers who is logged in', async () => {
    const context = await setup({ profile })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(200)
    const body = response.json()
    expect(body).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    expect(typeof body.user.id).toBe('string')
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now())
    expect(Object.keys(body).sort()).toEqual(['authenticated', 'expiresAt', 'user'])

    const [upstreamLogin] = context.sim.requestsTo('auth', exactPath(LOGIN))
    expect(upstreamLogin?.headers['content-type']).toBe('application/x-www-form-urlencoded')
    expect(new URLSearchParams(upstreamLogin?.body.toString()).get('username')).toBe(DEMO.email)
    expect(sessionCookie(response, context.config)).toBeDefined()
  })

  it('logs in with a form of username and password, as curl -d sends it', async () => {
    const context = await setup({ profile })
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `username=${encodeURIComponent(DEMO.email)}&password=${DEMO.password}`
    })
    expect(response.statusCode).toBe(200)
    expect(response.json().user.email).toBe(DEMO.email)
  })

  it('answers 401 invalid_credentials for a wrong password, and starts no session', async () => {
    const context = await setup({ profile })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: { ...DEMO, password: 'wrong-password' } })
    expect(response.statusCode).toBe(401)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(response.json()).toMatchObject({ status: 401, code: 'invalid_credentials', type: 'about:blank' })
    expect(sessionCookie(response, context.config)).toBeUndefined()
  })

  it('answers 403 account_inactive for a deactivated user', async () => {
    const context = await setup({ profile })
    const user = context.sim.state.addUser({ email: 'gone@example.com', password: 'gone-password', is_active: false })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: 'gone-password' } })
    expect(response.statusCode).toBe(403)
    expect(response.json().code).toBe('account_inactive')
  })

  it('accepts tokens that are not JWTs, giving them the default lifetime', async () => {
    const context = await setup({ profile, sim: { tokenFormat: 'opaque' } })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(200)
    // No `sub` in an opaque token: the user is known by email (and who-am-I's full name) only.
    expect(response.json().user).toEqual({ email: DEMO.email, full_name: 'Demo User' })
  })

  it('starts a new session id at log-in, so a planted or earlier cookie is worthless', async () => {
    const context = await setup({ profile })
    const first = await login(context)
    const again = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO, headers: { cookie: first } })
    const second = sessionCookie(again, context.config)
    expect(second).toBeDefined()
    expect(second).not.toBe(first)
    const old = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie: first } })
    expect(old.json()).toEqual({ authenticated: false })
    const current = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie: second } })
    expect(current.json().authenticated).toBe(true)
  })

  it('answers 502 upstream_invalid_response when the log-in answer has no tokens', async () => {
    const context = await setup({ profile })
    const empty = profile.name === 'v2' ? { success: true, message: 'Login successful', data: {} } : { token_type: 'bearer' }
    context.sim.inject({ upstream: 'auth', path: LOGIN, status: 200, body: empty })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(502)
    expect(response.json().code).toBe('upstream_invalid_response')
    expect(sessionCookie(response, context.config)).toBeUndefined()
  })

  it('answers 502 upstream_invalid_response when the log-in answer is not JSON', async () => {
    const context = await setup({ profile })
    context.sim.inject({ upstream: 'auth', path: LOGIN, mode: 'garbage' })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(502)
    expect(response.json().code).toBe('upstream_invalid_response')
  })

  it('answers 502 upstream_error when the authentication server fails', async () => {
    const context = await setup({ profile })
    context.sim.inject({ upstream: 'auth', path: LOGIN, status: 500 })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(502)
    expect(response.json().code).toBe('upstream_error')
  })

  it('answers 502 upstream_unavailable when the authentication server is down, and stays up', async () => {
    const context = await setup({ profile })
    await context.sim.close()
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(502)
    expect(response.json().code).toBe('upstream_unavailable')
    const health = await context.app.inject({ method: 'GET', url: '/healthz' })
    expect(health.statusCode).toBe(200)
  })
})

describe('POST /auth/login, whatever the profile', () => {
  it('answers 400 validation_failed without an email and never calls upstream', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: { password: 'x' } })
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('validation_failed')
    expect(context.sim.requests).toHaveLength(0)
  })

  // The simulator's `loginShape` chooses the guide's answer; v2 always answers the envelope, which
  // every log-in on v2 above reads. The parser is one for both profiles.
  it.each(['flat', 'envelope'] as const)('accepts the %s token answer shape', async (shape) => {
    const context = await setup({ sim: { loginShape: shape } })
    const cookie = await login(context)
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
  })
})
