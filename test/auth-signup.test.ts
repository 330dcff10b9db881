import { describe, expect, it } from 'vitest'
import { DEMO, sessionCookie, setup } from './helpers/app.js'
import { GUIDE, PROFILES, exactPath } from './helpers/profiles.js'

function newAccount (overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { email: 'new.user@example.com', password: 'new-user-password-1', full_name: 'New User', ...overrides }
}

describe.each(PROFILES)('POST /auth/signup on %s', (_name, profile) => {
  const SIGNUP = profile.paths.auth.signup

  it('creates the account upstream and answers the upstream status and user, without any password', async () => {
    const context = await setup({ profile })
    const account = newAccount()
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: account })

    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toContain('application/json')
    const body = response.json()
    expect(body).toMatchObject({ email: account.email, full_name: 'New User', is_active: true, is_superuser: false })
    expect(typeof body.id).toBe('string')
    expect(body).not.toHaveProperty('password')
    expect(body).not.toHaveProperty('hashed_password')
    expect(response.body).not.toContain(account.password as string)

    // The account really exists upstream, with the id the answer gave.
    expect(context.sim.counter('signup')).toBe(1)
    expect(context.sim.state.userByEmail(account.email as string)?.id).toBe(body.id)

    // What went upstream: JSON with exactly the documented fields.
    const [upstream] = context.sim.requestsTo('auth', exactPath(SIGNUP))
    expect(upstream?.method).toBe('POST')
    expect(upstream?.headers['content-type']).toContain('application/json')
    expect(JSON.parse(upstream?.body.toString() ?? '{}')).toEqual(account)

    // Signing up does not log in.
    expect(sessionCookie(response, context.config)).toBeUndefined()
    const session = await context.app.inject({ method: 'GET', url: '/auth/session' })
    expect(session.json()).toEqual({ authenticated: false })
  })

  it('lets the new user log in afterwards', async () => {
    const context = await setup({ profile })
    const account = newAccount({ email: 'fresh@example.com', password: 'fresh-password-42' })
    const signup = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: account })
    expect(signup.statusCode).toBe(200)

    const login = await context.app.inject({ method: 'POST', url: '/auth/login', payload: { email: account.email, password: account.password } })
    expect(login.statusCode).toBe(200)
    expect(login.json()).toMatchObject({ authenticated: true, user: { email: account.email, id: signup.json().id } })
    const cookie = sessionCookie(login, context.config)
    expect(cookie).toBeDefined()
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie: cookie as string } })
    expect(session.json()).toMatchObject({ authenticated: true, user: { email: account.email } })
  })

  it('works without full_name', async () => {
    const context = await setup({ profile })
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: { email: 'noname@example.com', password: 'no-name-password' } })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ email: 'noname@example.com', full_name: null })
    const [upstream] = context.sim.requestsTo('auth', exactPath(SIGNUP))
    expect(JSON.parse(upstream?.body.toString() ?? '{}')).toEqual({ email: 'noname@example.com', password: 'no-name-password' })
  })

  it('passes an upstream 422 through with its detail but without the echoed input, so the password never comes back', async () => {
    const context = await setup({ profile })
    // 41..128 characters: valid for the BFF, too long for the simulated FastAPI (at most 40).
    const password = 'Very-Secret-Password-That-Is-Too-Long-For-Upstream-0123456789'
    expect(password.length).toBeGreaterThan(40)
    expect(password.length).toBeLessThanOrEqual(128)
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: newAccount({ password }) })

    expect(response.statusCode).toBe(422)
    const body = response.json()
    expect(Array.isArray(body.detail)).toBe(true)
    expect(body.detail).toHaveLength(1)
    expect(body.detail[0]).toMatchObject({ type: 'string_too_long', loc: ['body', 'password'], msg: 'String should have at most 40 characters' })
    for (const issue of body.detail) expect(issue).not.toHaveProperty('input')
    expect(response.body).not.toContain(password)
    // The request did reach upstream, and upstream echoed the password there.
    const [upstream] = context.sim.requestsTo('auth', exactPath(SIGNUP))
    expect(upstream).toBeDefined()
    expect(context.sim.counter('signup')).toBe(0)
  })

  it('passes the upstream 400 detail through for an email that is already taken', async () => {
    const context = await setup({ profile })
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: newAccount({ email: DEMO.email }) })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({ detail: 'The user with this email already exists in the system' })
    expect(context.sim.requestsTo('auth', exactPath(SIGNUP))).toHaveLength(1)
    expect(context.sim.counter('signup')).toBe(0)
  })

  it('answers with the upstream success status and strips password and token fields the upstream may add', async () => {
    const context = await setup({ profile })
    context.sim.inject({
      upstream: 'auth',
      path: SIGNUP,
      status: 201,
      body: { id: 7, email: 'odd@example.com', full_name: null, is_active: true, is_superuser: false, password: 'echoed-secret-1', hashed_password: 'hash-secret-2', access_token: 'token-secret-3' }
    })
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: newAccount({ email: 'odd@example.com', password: 'echoed-secret-1' }) })
    expect(response.statusCode).toBe(201)
    expect(response.json()).toEqual({ id: 7, email: 'odd@example.com', full_name: null, is_active: true, is_superuser: false })
    for (const secret of ['echoed-secret-1', 'hash-secret-2', 'token-secret-3']) expect(response.body).not.toContain(secret)
  })

  it('answers 502 upstream_error when the authentication server fails', async () => {
    const context = await setup({ profile })
    context.sim.inject({ upstream: 'auth', path: SIGNUP, status: 500 })
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: newAccount() })
    expect(response.statusCode).toBe(502)
    expect(response.json()).toMatchObject({ status: 502, code: 'upstream_error' })
  })

  it('answers 502 upstream_unavailable when the authentication server is down, and stays up', async () => {
    const context = await setup({ profile })
    await context.sim.close()
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: newAccount() })
    expect(response.statusCode).toBe(502)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(response.json()).toMatchObject({ status: 502, code: 'upstream_unavailable' })
    expect(response.body).not.toContain('new-user-password-1')
    const health = await context.app.inject({ method: 'GET', url: '/healthz' })
    expect(health.statusCode).toBe(200)
  })
})

// The BFF's own checks of the body, one code for both profiles: run once, on the guide.
describe('POST /auth/signup, whatever the profile', () => {
  const GUIDE_SIGNUP = GUIDE.paths.auth.signup

  it.each([
    ['a badly formed email', { email: 'not-an-email' }, '/email'],
    ['a password of 7 characters', { password: 'short-7' }, '/password'],
    ['a password of 129 characters', { password: 'L'.repeat(129) }, '/password'],
    ['no email', { email: undefined }, '/email'],
    ['no password', { password: undefined }, '/password'],
    ['an email that is not a string', { email: 42 }, '/email']
  ])('answers 400 validation_failed for %s and never calls upstream', async (_label, overrides, path) => {
    const context = await setup()
    const payload = JSON.parse(JSON.stringify(newAccount(overrides))) as Record<string, unknown>
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload })

    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toContain('application/problem+json')
    const body = response.json()
    expect(body).toMatchObject({ type: 'about:blank', status: 400, code: 'validation_failed' })
    expect(Array.isArray(body.errors)).toBe(true)
    expect(body.errors.length).toBeGreaterThan(0)
    expect(body.errors.map((error: { path: string }) => error.path)).toContain(path)
    if (typeof payload.password === 'string') expect(response.body).not.toContain(payload.password)
    expect(context.sim.requests).toHaveLength(0)
  })

  it('accepts the boundary lengths 8 and 128 itself (128 then meets the upstream limit)', async () => {
    const context = await setup()
    const eight = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: newAccount({ email: 'eight@example.com', password: '8chars!!' }) })
    expect(eight.statusCode).toBe(200)
    const longest = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: newAccount({ email: 'long@example.com', password: 'p'.repeat(128) }) })
    // Reached upstream: the BFF's own limit is 128, the simulator's is 40.
    expect(longest.statusCode).toBe(422)
    expect(context.sim.requestsTo('auth', exactPath(GUIDE_SIGNUP))).toHaveLength(2)
  })

  it('never forwards extra fields such as is_superuser upstream', async () => {
    const context = await setup()
    const payload = newAccount({ email: 'sneaky@example.com', is_superuser: true, is_active: true, id: 'chosen-id', hashed_password: 'x' })
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload })

    // Whether the BFF strips the extras or refuses the request, they must not reach upstream.
    expect([200, 400]).toContain(response.statusCode)
    for (const request of context.sim.requestsTo('auth', exactPath(GUIDE_SIGNUP))) {
      const forwarded = JSON.parse(request.body.toString()) as Record<string, unknown>
      expect(Object.keys(forwarded).sort()).toEqual(['email', 'full_name', 'password'])
      expect(request.body.toString()).not.toContain('is_superuser')
    }
    const created = context.sim.state.userByEmail('sneaky@example.com')
    if (created !== undefined) {
      expect(created.is_superuser).toBe(false)
      expect(created.id).not.toBe('chosen-id')
    }
    if (response.statusCode === 200) expect(response.json().is_superuser).toBe(false)
  })
})
