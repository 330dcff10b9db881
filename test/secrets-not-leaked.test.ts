import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { DEMO, secretsIn, sessionCookie, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { PROFILES } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

/**
 * Tokens, passwords and session cookies never leave the server: not in an answer body, not in
 * an answer header (except the Set-Cookie that carries the cookie itself), not in a log line.
 * Each flow runs at trace level (everything logged) and at the default info level.
 */

const NEW_USER = { email: 'leak-check@example.com', password: 'Pw-known-9f2c7e-signup', full_name: 'Leak Check' }
const WRONG_PASSWORD = 'Pw-wrong-4d81aa-guess'
/** Longer than the authentication server's 40, so it answers a pydantic 422 that echoes the input. */
const LONG_PASSWORD = 'Pw-long-71be03-' + 'x'.repeat(40)
const INJECTED_PASSWORD = 'Pw-echoed-5a0c2f-injected'
const MALFORMED_PASSWORD = 'Pw-malformed-c93e11-json'
const OVERSIZE_PASSWORD = 'Pw-oversize-0b77d4-' + 'y'.repeat(1100)
const BEARER_SECRET = 'secret-xyz-3e5d9b1f'
const COOKIE_SECRETS = ['planted-cookie-secret-8a1f', 'other-cookie-secret-62c0']

interface Flow {
  responses: LightMyRequestResponse[]
  passwords: string[]
  /** Every session cookie value an answer set, decoded and as sent. */
  cookieValues: string[]
}

async function runFlow (context: TestContext, profile: TestProfile): Promise<Flow> {
  const { app, config, sim } = context
  const responses: LightMyRequestResponse[] = []
  const send = async (options: InjectOptions): Promise<LightMyRequestResponse> => {
    const response = await app.inject(options)
    responses.push(response)
    return response
  }
  const json = { 'content-type': 'application/json' }

  // Sign-up of a new user, and two refused sign-ups (one by the BFF, one by the upstream's 422).
  const signup = await send({ method: 'POST', url: '/auth/signup', payload: NEW_USER })
  expect(signup.statusCode).toBe(200)
  expect(signup.json()).toMatchObject({ email: NEW_USER.email })
  const upstreamRefused = await send({ method: 'POST', url: '/auth/signup', payload: { email: 'long@example.com', password: LONG_PASSWORD } })
  expect(upstreamRefused.statusCode).toBe(422)
  const invalid = await send({ method: 'POST', url: '/auth/signup', payload: { email: 'not-an-email', password: NEW_USER.password } })
  expect(invalid.statusCode).toBe(400)

  // Log-in with JSON, then with a form, with the new password.
  const loginJson = await send({ method: 'POST', url: '/auth/login', payload: { email: NEW_USER.email, password: NEW_USER.password } })
  expect(loginJson.statusCode).toBe(200)
  const jsonCookie = sessionCookie(loginJson, config)
  expect(jsonCookie).toBeDefined()
  const loginForm = await send({
    method: 'POST',
    url: '/auth/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ username: NEW_USER.email, password: NEW_USER.password }).toString()
  })
  expect(loginForm.statusCode).toBe(200)
  const formCookie = sessionCookie(loginForm, config) as string
  expect(formCookie).toBeDefined()

  // Refused and failed log-ins, so that info and error lines are written.
  const wrong = await send({ method: 'POST', url: '/auth/login', payload: { email: NEW_USER.email, password: WRONG_PASSWORD } })
  expect(wrong.statusCode).toBe(401)
  sim.inject({ upstream: 'auth', path: profile.paths.auth.login, status: 500, body: { detail: 'Internal Server Error' } })
  const failed = await send({ method: 'POST', url: '/auth/login', payload: DEMO })
  expect(failed.statusCode).toBe(502)
  expect(failed.json().code).toBe('upstream_error')
  sim.inject({ upstream: 'auth', path: profile.paths.auth.login, mode: 'drop' })
  const dropped = await send({ method: 'POST', url: '/auth/login', payload: DEMO })
  expect(dropped.statusCode).toBe(502)
  expect(dropped.json().code).toBe('upstream_unavailable')
  sim.inject({ upstream: 'auth', path: profile.paths.auth.login, mode: 'garbage' })
  const garbage = await send({ method: 'POST', url: '/auth/login', payload: DEMO })
  expect(garbage.statusCode).toBe(502)
  // A pydantic-style refusal that echoes the password it was given.
  sim.inject({
    upstream: 'auth',
    path: profile.paths.auth.login,
    status: 422,
    body: { detail: [{ type: 'string_too_long', loc: ['body', 'password'], msg: 'String should have at most 40 characters', input: INJECTED_PASSWORD }] }
  })
  const echoed = await send({ method: 'POST', url: '/auth/login', payload: { email: DEMO.email, password: INJECTED_PASSWORD } })
  expect(echoed.statusCode).toBeGreaterThanOrEqual(400)
  const malformed = await send({ method: 'POST', url: '/auth/login', headers: json, payload: `{"email":"${DEMO.email}","password":"${MALFORMED_PASSWORD}"x}` })
  expect(malformed.statusCode).toBe(400)
  const oversize = await send({ method: 'POST', url: '/auth/login', payload: { email: DEMO.email, password: OVERSIZE_PASSWORD } })
  expect(oversize.statusCode).toBe(400)

  // Who is logged in, then log-out.
  const session = await send({ method: 'GET', url: '/auth/session', headers: { cookie: formCookie } })
  expect(session.json()).toMatchObject({ authenticated: true, user: { email: NEW_USER.email } })
  const logout = await send({ method: 'POST', url: '/auth/logout', headers: { cookie: formCookie } })
  expect(logout.statusCode).toBe(204)
  const afterLogout = await send({ method: 'GET', url: '/auth/session', headers: { cookie: formCookie } })
  expect(afterLogout.json()).toEqual({ authenticated: false })

  // The browser's own Authorization and Cookie headers, on a few routes.
  const planted = { authorization: `Bearer ${BEARER_SECRET}`, cookie: `${config.session.cookieName}=${COOKIE_SECRETS[0]}; theme=${COOKIE_SECRETS[1]}` }
  expect((await send({ method: 'GET', url: '/auth/session', headers: planted })).json()).toEqual({ authenticated: false })
  expect((await send({ method: 'GET', url: '/auth/session', headers: { ...planted, cookie: `${jsonCookie as string}; theme=${COOKIE_SECRETS[1]}` } })).json().authenticated).toBe(true)
  expect((await send({ method: 'POST', url: '/auth/login', headers: planted, payload: { email: DEMO.email, password: WRONG_PASSWORD } })).statusCode).toBe(401)
  expect((await send({ method: 'GET', url: '/no-such-route', headers: planted })).statusCode).toBe(404)
  expect((await send({ method: 'GET', url: '/healthz', headers: planted })).statusCode).toBe(200)
  expect((await send({ method: 'POST', url: '/auth/logout', headers: planted })).statusCode).toBe(204)

  const cookieValues = new Set<string>()
  for (const response of responses) {
    for (const cookie of response.cookies) {
      if (cookie.name === config.session.cookieName && cookie.value !== '') {
        cookieValues.add(cookie.value)
        cookieValues.add(encodeURIComponent(cookie.value))
      }
    }
  }
  expect(cookieValues.size).toBeGreaterThanOrEqual(2)

  return {
    responses,
    passwords: [NEW_USER.password, DEMO.password, WRONG_PASSWORD, LONG_PASSWORD, INJECTED_PASSWORD, MALFORMED_PASSWORD, OVERSIZE_PASSWORD],
    cookieValues: [...cookieValues]
  }
}

function headerText (headers: LightMyRequestResponse['headers'], options: { withSetCookie: boolean }): string {
  return Object.entries(headers)
    .filter(([name]) => options.withSetCookie || name.toLowerCase() !== 'set-cookie')
    .map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join('\n') : String(value)}`)
    .join('\n')
}

describe.each(PROFILES)('on %s', (_name, profile) => describe.each(['trace', 'info'] as const)('secrets at LOG_LEVEL=%s', (level) => {
  it('leave the server in no answer and no log line', async () => {
    const context = await setup({ profile, env: { LOG_LEVEL: level } })
    const { responses, passwords, cookieValues } = await runFlow(context, profile)
    const tokens = [...context.sim.state.issuedTokens]
    // Log-ins of the new user (JSON, form, the planted-header session) issued pairs.
    expect(tokens.length).toBeGreaterThanOrEqual(4)
    const sessionSecrets = context.config.session.secrets
    // v2's gateway key is a server secret too.
    const gatewayKey = profile.env.EJENTO_SUBSCRIPTION_KEY === undefined ? [] : [profile.env.EJENTO_SUBSCRIPTION_KEY]
    const never = [...passwords, ...tokens, ...sessionSecrets, ...gatewayKey, BEARER_SECRET, ...COOKIE_SECRETS]

    for (const response of responses) {
      const where = `${response.raw.req.method ?? ''} ${response.raw.req.url ?? ''} → ${response.statusCode}`
      expect(secretsIn(response.body, [...never, ...cookieValues]), `body of ${where}`).toEqual([])
      expect(secretsIn(headerText(response.headers, { withSetCookie: false }), [...never, ...cookieValues]), `headers of ${where}`).toEqual([])
      // The Set-Cookie carries the opaque id and nothing else.
      expect(secretsIn(headerText(response.headers, { withSetCookie: true }), never), `Set-Cookie of ${where}`).toEqual([])
    }

    const logs = context.logs.join('\n')
    expect(context.logs.length).toBeGreaterThan(10)
    const lines = context.logs.map((line) => JSON.parse(line) as { level: number, msg?: string })
    // The flow wrote error lines (the upstream failures) and info lines, so there was something to leak into.
    expect(lines.some((line) => line.level === 50)).toBe(true)
    expect(lines.some((line) => line.msg === 'logged in')).toBe(true)
    expect(lines.some((line) => line.msg === 'logged out')).toBe(true)
    expect(secretsIn(logs, never), 'log lines').toEqual([])
    expect(secretsIn(logs, cookieValues), 'log lines').toEqual([])
    // Nor the session id alone, without its signature.
    const sessionIds = cookieValues.map((value) => value.slice(0, value.lastIndexOf('.'))).filter((id) => id.length >= 16)
    expect(sessionIds.length).toBeGreaterThan(0)
    expect(secretsIn(logs, sessionIds), 'session ids in log lines').toEqual([])

    // The browser's Authorization and Cookie headers never went upstream.
    for (const request of context.sim.requests) {
      expect(secretsIn(JSON.stringify(request.headers), [BEARER_SECRET, ...COOKIE_SECRETS, ...cookieValues])).toEqual([])
    }
  })
}))
