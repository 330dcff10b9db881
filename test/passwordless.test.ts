import type { LightMyRequestResponse } from 'fastify'
import { request } from 'undici'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { DEMO, ADMIN, login, onCleanup, secretsIn, sessionCookie, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { GUIDE, V2, exactPath } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import { cluster, describeWithRedis } from './helpers/redis.js'
import type { Instance } from './helpers/redis.js'

const START = V2.paths.auth.passwordlessStart as string
const VERIFY = V2.paths.auth.passwordlessVerify as string
const LOGIN_COOKIE = 'ejento_bff-login'
const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

async function v2 (env: Record<string, string> = {}): Promise<TestContext> {
  return await setup({ profile: V2, env: { ...LIMITS, ...env } })
}

/** The `name=value` of the pre-log-in cookie an answer set; '' when it cleared it; undefined when untouched. */
function loginCookie (response: LightMyRequestResponse, name = LOGIN_COOKIE): string | undefined {
  const cookie = response.cookies.findLast((candidate) => candidate.name === name)
  return cookie === undefined ? undefined : cookie.value === '' ? '' : `${cookie.name}=${cookie.value}`
}

async function start (context: TestContext, email: string, options: { cookie?: string, remoteAddress?: string } = {}): Promise<LightMyRequestResponse> {
  return await context.app.inject({
    method: 'POST',
    url: '/auth/passwordless/start',
    payload: { email },
    ...(options.remoteAddress === undefined ? {} : { remoteAddress: options.remoteAddress }),
    headers: options.cookie === undefined ? {} : { cookie: options.cookie }
  })
}

async function verify (context: TestContext, body: { code: string, email?: string }, cookie?: string, remoteAddress?: string): Promise<LightMyRequestResponse> {
  return await context.app.inject({
    method: 'POST',
    url: '/auth/passwordless/verify',
    payload: body,
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
    headers: cookie === undefined ? {} : { cookie }
  })
}

/** Starts a password-less log-in for DEMO and answers the pre-log-in cookie and the e-mailed code. */
async function started (context: TestContext, email = DEMO.email): Promise<{ cookie: string, code: string }> {
  const answer = await start(context, email)
  expect(answer.statusCode).toBe(202)
  const cookie = loginCookie(answer) as string
  const code = context.sim.lastMail(email)?.code as string
  expect(code).toMatch(/^\d{6}$/)
  return { cookie, code }
}

/** A code that is not the one sent. */
function wrong (code: string): string {
  return code === '000000' ? '111111' : '000000'
}

function expectProblem (response: LightMyRequestResponse, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toContain('application/problem+json')
  expect(response.json()).toMatchObject({ status, code })
}

describe('password-less log-in on v2', () => {
  it('start answers 202 and a pre-log-in cookie; the e-mailed code logs in, answering exactly what /auth/login answers', async () => {
    const context = await v2()
    const answer = await start(context, DEMO.email)
    expect(answer.statusCode).toBe(202)
    expect(answer.json()).toEqual({ sent: true })
    const preLogin = answer.cookies.find((cookie) => cookie.name === LOGIN_COOKIE)
    expect(preLogin).toMatchObject({ path: '/auth', httpOnly: true, sameSite: 'Lax', maxAge: 600 })
    expect(preLogin?.secure).not.toBe(true)
    expect(sessionCookie(answer, context.config)).toBeUndefined()
    // Without PUBLIC_URL: a code only, never a link.
    const [call] = context.sim.requestsTo('auth', exactPath(START))
    expect(JSON.parse(call?.body.toString() ?? '')).toEqual({ email: DEMO.email })
    const mail = context.sim.lastMail(DEMO.email)
    expect(mail?.magicLink).toBeUndefined()

    const loggedIn = await verify(context, { code: mail?.code as string }, loginCookie(answer))
    expect(loggedIn.statusCode).toBe(200)
    const body = loggedIn.json()
    expect(Object.keys(body).sort()).toEqual(['authenticated', 'expiresAt', 'user'])
    expect(body).toMatchObject({ authenticated: true, user: { email: DEMO.email, full_name: 'Demo User' } })
    expect(typeof body.user.id).toBe('string')
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now())
    // The pre-log-in cookie is cleared (same path, or the browser keeps it).
    const cleared = loggedIn.cookies.find((cookie) => cookie.name === LOGIN_COOKIE)
    expect(cleared).toMatchObject({ value: '', path: '/auth' })
    const cookie = sessionCookie(loggedIn, context.config) as string
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email, full_name: 'Demo User' } })
    // The session holds working tokens.
    expect((await context.app.inject({ method: 'GET', url: '/api/agents/1/chat-threads', headers: { cookie } })).statusCode).toBe(200)
  })

  it('a wrong code is 401 invalid_code and logs nobody in; the right one still works after it', async () => {
    const context = await v2()
    const { cookie, code } = await started(context)
    const refused = await verify(context, { code: wrong(code) }, cookie)
    expectProblem(refused, 401, 'invalid_code')
    expect(sessionCookie(refused, context.config)).toBeUndefined()
    expect(loginCookie(refused)).toBeUndefined()
    expect((await verify(context, { code }, cookie)).statusCode).toBe(200)
  })

  it('without the pre-log-in cookie, the address finds the log-in', async () => {
    const context = await v2()
    const { code } = await started(context)
    expectProblem(await verify(context, { code }), 400, 'passwordless_not_started')
    const answer = await verify(context, { code, email: DEMO.email.toUpperCase() })
    expect(answer.statusCode).toBe(200)
    expect(answer.json().user.email).toBe(DEMO.email)
  })

  it('the pending log-in is one-time: used, it is gone by cookie and by address', async () => {
    const context = await v2()
    const { cookie, code } = await started(context)
    expect((await verify(context, { code }, cookie)).statusCode).toBe(200)
    expectProblem(await verify(context, { code }, cookie), 400, 'passwordless_not_started')
    expectProblem(await verify(context, { code, email: DEMO.email }), 400, 'passwordless_not_started')
    expect(context.sim.requestsTo('auth', exactPath(VERIFY))).toHaveLength(1)
  })

  it('of five verifications at once with the right code, one logs in and one code goes upstream', async () => {
    const context = await v2()
    const { cookie, code } = await started(context)
    const answers = await Promise.all(Array.from({ length: 5 }, async () => await verify(context, { code }, cookie)))
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 400, 400, 400, 400])
    expect(context.sim.requestsTo('auth', exactPath(VERIFY))).toHaveLength(1)
  })

  it('nothing started: 400 passwordless_not_started, nothing sent upstream', async () => {
    const context = await v2()
    expectProblem(await verify(context, { code: '123456' }), 400, 'passwordless_not_started')
    expectProblem(await verify(context, { code: '123456', email: 'nobody@example.com' }), 400, 'passwordless_not_started')
    expect(context.sim.requestsTo('auth', exactPath(VERIFY))).toHaveLength(0)
  })

  it('no account enumeration: an unknown address gets the same 202 and cookie, no mail, and every code is 401 invalid_code', async () => {
    const context = await v2()
    const known = await start(context, DEMO.email)
    const unknown = await start(context, 'nobody@example.com')
    expect(unknown.statusCode).toBe(known.statusCode)
    expect(unknown.body).toBe(known.body)
    expect(loginCookie(unknown)).toMatch(/^ejento_bff-login=/)
    expect(context.sim.lastMail('nobody@example.com')).toBeUndefined()
    expectProblem(await verify(context, { code: '123456' }, loginCookie(unknown)), 401, 'invalid_code')
    expectProblem(await verify(context, { code: '123456', email: 'nobody@example.com' }), 401, 'invalid_code')
  })

  it('an address the upstream refuses (a 4xx) still answers 202; its codes are all wrong, without asking upstream', async () => {
    const context = await v2()
    context.sim.inject({ upstream: 'auth', path: exactPath(START), status: 404, body: { detail: 'User not found' } })
    const answer = await start(context, 'refused@example.com')
    expect(answer.statusCode).toBe(202)
    expect(answer.json()).toEqual({ sent: true })
    expectProblem(await verify(context, { code: '123456' }, loginCookie(answer)), 401, 'invalid_code')
    expect(context.sim.requestsTo('auth', exactPath(VERIFY))).toHaveLength(0)
  })

  it('an upstream failure is still a failure: 5xx on start or verify is 502, and the code can be tried again', async () => {
    const context = await v2()
    context.sim.inject({ upstream: 'auth', path: exactPath(START), status: 503, body: { detail: 'down' } })
    expectProblem(await start(context, DEMO.email), 502, 'upstream_error')
    const { cookie, code } = await started(context)
    context.sim.inject({ upstream: 'auth', path: exactPath(VERIFY), status: 500, body: { detail: 'boom' } })
    expectProblem(await verify(context, { code }, cookie), 502, 'upstream_error')
    context.sim.inject({ upstream: 'auth', path: exactPath(VERIFY), mode: 'drop' })
    expectProblem(await verify(context, { code }, cookie), 502, 'upstream_unavailable')
    expect((await verify(context, { code }, cookie)).statusCode).toBe(200)
  })

  it('a second start from one browser ends the first log-in', async () => {
    const context = await v2()
    const first = await started(context)
    const second = await start(context, DEMO.email, { cookie: first.cookie })
    const secondCookie = loginCookie(second) as string
    expect(secondCookie).not.toBe(first.cookie)
    expectProblem(await verify(context, { code: first.code }, first.cookie), 400, 'passwordless_not_started')
    expect((await verify(context, { code: context.sim.lastMail(DEMO.email)?.code as string }, secondCookie)).statusCode).toBe(200)
  })

  it('replaces the browser\'s previous session as /auth/login does: a new id, the old one over', async () => {
    const context = await v2()
    const before = await login(context, ADMIN)
    const { cookie: preLogin, code } = await started(context)
    const answer = await verify(context, { code }, `${before}; ${preLogin}`)
    expect(answer.statusCode).toBe(200)
    const after = sessionCookie(answer, context.config) as string
    expect(after).not.toBe(before)
    const old = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie: before } })
    expect(old.json()).toEqual({ authenticated: false })
    const now = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie: after } })
    expect(now.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
  })

  it('the code, the otp_session_id and the tokens never appear in an answer or a log line', async () => {
    const context = await v2()
    const answers: LightMyRequestResponse[] = []
    const first = await start(context, DEMO.email)
    answers.push(first)
    const otpSessionIds = [...context.sim.state.otpSessions.keys()]
    expect(otpSessionIds).toHaveLength(1)
    const code = context.sim.lastMail(DEMO.email)?.code as string
    answers.push(await verify(context, { code: wrong(code) }, loginCookie(first)))
    answers.push(await verify(context, { code }, loginCookie(first)))
    const cookie = sessionCookie(answers[2] as LightMyRequestResponse, context.config) as string
    answers.push(await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } }))

    const secrets = [...otpSessionIds, ...context.sim.state.issuedTokens]
    expect(context.sim.state.issuedTokens.length).toBeGreaterThan(0)
    // Six digits turn up inside timestamps and durations: a code counts only standing alone.
    const codes = new RegExp(`(?<![0-9])(?:${code}|${wrong(code)})(?![0-9])`)
    for (const answer of answers) {
      const text = `${JSON.stringify(answer.headers)}\n${answer.body}`
      expect(secretsIn(text, secrets)).toEqual([])
      expect(text).not.toMatch(codes)
    }
    const logs = context.logs.join('')
    expect(logs).toMatch(/password-less log-in started/)
    expect(secretsIn(logs, secrets)).toEqual([])
    expect(logs).not.toMatch(codes)
    // The pre-log-in cookie holds a random id, nothing of the log-in.
    expect(secretsIn(loginCookie(first) as string, secrets)).toEqual([])
  })

  it('validates its input: a bad address or code is 400 and reaches no upstream', async () => {
    const context = await v2()
    for (const payload of [{}, { email: 'not-an-address' }, { email: DEMO.email, next: 'https://evil.example/' }]) {
      const answer = await context.app.inject({ method: 'POST', url: '/auth/passwordless/start', payload })
      expect(answer.statusCode, JSON.stringify(payload)).toBe(400)
    }
    for (const payload of [{}, { code: '12' }, { code: '12345 6' }, { code: '123456', otp_session_id: 'x' }, { code: '123456', email: 'nope' }]) {
      const answer = await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', payload })
      expect(answer.statusCode, JSON.stringify(payload)).toBe(400)
    }
    expect(context.sim.requests).toHaveLength(0)
  })

  it('the cross-site check applies: another origin\'s POST is 403 csrf_rejected and reaches no upstream', async () => {
    const context = await v2()
    for (const url of ['/auth/passwordless/start', '/auth/passwordless/verify']) {
      const answer = await context.app.inject({ method: 'POST', url, headers: { origin: 'https://evil.example' }, payload: { email: DEMO.email, code: '123456' } })
      expectProblem(answer, 403, 'csrf_rejected')
      const fetched = await context.app.inject({ method: 'POST', url, headers: { 'sec-fetch-site': 'cross-site' }, payload: { email: DEMO.email, code: '123456' } })
      expectProblem(fetched, 403, 'csrf_rejected')
    }
    expect(context.sim.requests).toHaveLength(0)
  })

  it('with PUBLIC_URL, Ejento is asked for a magic link to the callback, with a state that is in no answer', async () => {
    const context = await v2({ PUBLIC_URL: 'https://chat.example.com/app' })
    const answer = await start(context, DEMO.email, { cookie: 'ignored=1' })
    expect(answer.statusCode).toBe(202)
    const [call] = context.sim.requestsTo('auth', exactPath(START))
    const sent = JSON.parse(call?.body.toString() ?? '') as { email: string, next: string }
    const next = new URL(sent.next)
    expect(`${next.origin}${next.pathname}`).toBe('https://chat.example.com/app/auth/sso/callback')
    const state = next.searchParams.get('state') as string
    expect(state).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect([...next.searchParams.keys()]).toEqual(['state'])
    expect(`${JSON.stringify(answer.headers)}${answer.body}`).not.toContain(state)
    expect(context.sim.lastMail(DEMO.email)?.magicLink).toMatch(/^https:\/\/chat\.example\.com\/app\/auth\/sso\/callback\?state=/)
  })

  it('a forged Host never reaches the e-mail: without PUBLIC_URL no link is asked for, whatever the Host says', async () => {
    const context = await v2()
    const answer = await context.app.inject({ method: 'POST', url: '/auth/passwordless/start', headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example' }, payload: { email: DEMO.email } })
    expect(answer.statusCode).toBe(202)
    const [call] = context.sim.requestsTo('auth', exactPath(START))
    expect(call?.body.toString()).not.toContain('evil')
    expect(context.sim.lastMail(DEMO.email)?.magicLink).toBeUndefined()
  })

  it('with COOKIE_SECURE the pre-log-in cookie is __Host- (no sibling host can plant one) and Secure; plain HTTP is refused', async () => {
    const context = await v2({ COOKIE_SECURE: 'true', TRUST_PROXY: 'true' })
    expectProblem(await start(context, DEMO.email), 400, 'insecure_transport')
    const https = { 'x-forwarded-proto': 'https' }
    const answer = await context.app.inject({ method: 'POST', url: '/auth/passwordless/start', headers: https, payload: { email: DEMO.email } })
    expect(answer.statusCode).toBe(202)
    const preLogin = answer.cookies.find((cookie) => cookie.name === '__Host-ejento_bff-login')
    expect(preLogin).toMatchObject({ path: '/', httpOnly: true, secure: true, sameSite: 'Lax' })
    const code = context.sim.lastMail(DEMO.email)?.code as string
    const loggedIn = await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', headers: { ...https, cookie: loginCookie(answer, '__Host-ejento_bff-login') as string }, payload: { code } })
    expect(loggedIn.statusCode).toBe(200)
    expect(loggedIn.cookies.find((cookie) => cookie.name === '__Host-ejento_bff')?.secure).toBe(true)
  })

  it('a forged pre-log-in cookie is no cookie', async () => {
    const context = await v2()
    const { cookie, code } = await started(context)
    const [, value] = cookie.split('=') as [string, string]
    const forged = `${LOGIN_COOKIE}=${decodeURIComponent(value).split('.')[0] as string}.forgedsignature`
    expectProblem(await verify(context, { code }, forged), 400, 'passwordless_not_started')
  })

  describe('rate limits, as log-in\'s', () => {
    it('start: per account, whatever the address; other accounts go on', async () => {
      const context = await setup({ profile: V2, env: { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '2' } })
      expect((await start(context, DEMO.email, { remoteAddress: '10.0.0.1' })).statusCode).toBe(202)
      expect((await start(context, DEMO.email.toUpperCase(), { remoteAddress: '10.0.0.2' })).statusCode).toBe(202)
      const limited = await start(context, DEMO.email, { remoteAddress: '10.0.0.3' })
      expectProblem(limited, 429, 'rate_limited')
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      expect(context.sim.requestsTo('auth', exactPath(START))).toHaveLength(2)
      expect((await start(context, ADMIN.email, { remoteAddress: '10.0.0.3' })).statusCode).toBe(202)
    })

    it('start: per client address, whatever the account', async () => {
      const context = await setup({ profile: V2, env: { AUTH_RATE_LIMIT_PER_IP: '2', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' } })
      expect((await start(context, 'a@example.com')).statusCode).toBe(202)
      expect((await start(context, 'b@example.com')).statusCode).toBe(202)
      expectProblem(await start(context, 'c@example.com'), 429, 'rate_limited')
      expect((await start(context, 'c@example.com', { remoteAddress: '10.0.0.9' })).statusCode).toBe(202)
    })

    it('verify: per account, counted on the log-in\'s address even when only the cookie names it', async () => {
      const context = await setup({ profile: V2, env: { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '4' } })
      const { cookie, code } = await started(context)
      // The start counted once; three wrong codes from three addresses use up the account.
      for (const address of ['10.0.1.1', '10.0.1.2', '10.0.1.3']) expectProblem(await verify(context, { code: wrong(code) }, cookie, address), 401, 'invalid_code')
      expectProblem(await verify(context, { code }, cookie, '10.0.1.4'), 429, 'rate_limited')
      expectProblem(await verify(context, { code, email: DEMO.email }, undefined, '10.0.1.5'), 429, 'rate_limited')
      expect(context.sim.requestsTo('auth', exactPath(VERIFY))).toHaveLength(3)
    })

    it('verify: per client address', async () => {
      const context = await setup({ profile: V2, env: { AUTH_RATE_LIMIT_PER_IP: '3', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' } })
      const { cookie, code } = await started(context)
      expectProblem(await verify(context, { code: wrong(code) }, cookie), 401, 'invalid_code')
      expectProblem(await verify(context, { code: '654321', email: 'x@example.com' }), 400, 'passwordless_not_started')
      expectProblem(await verify(context, { code }, cookie), 429, 'rate_limited')
      expect((await verify(context, { code }, cookie, '10.0.2.1')).statusCode).toBe(200)
    })
  })
})

describe('password-less log-in on guide', () => {
  it('answers 501 not_supported, before reading the body, and calls no upstream', async () => {
    const context = await setup({ profile: GUIDE })
    for (const [url, payload] of [['/auth/passwordless/start', { email: DEMO.email }], ['/auth/passwordless/verify', { code: '123456' }], ['/auth/passwordless/start', { nonsense: true }]] as const) {
      const answer = await context.app.inject({ method: 'POST', url, payload })
      expectProblem(answer, 501, 'not_supported')
      expect(loginCookie(answer)).toBeUndefined()
    }
    expect(context.sim.requests).toHaveLength(0)
  })
})

describe('password-less log-in on the compiled server over a real socket', () => {
  it('start, a wrong code, the right code: a session; rate limited per account; no code, otp session or token in its output', async () => {
    const sim = await startSimulator(V2.sim)
    onCleanup(sim.close)
    const server = await startRealServer(sim, { ...V2.env, AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '4' })
    const instance = { url: server.base }

    const first = await post(instance, '/auth/passwordless/start', { email: DEMO.email })
    expect(first.status).toBe(202)
    expect(first.json).toEqual({ sent: true })
    const preLogin = first.cookies.get(LOGIN_COOKIE) as string
    const otpSessionIds = [...sim.state.otpSessions.keys()]
    const code = sim.lastMail(DEMO.email)?.code as string
    expect((await post(instance, '/auth/passwordless/verify', { code: wrong(code) }, preLogin)).json.code).toBe('invalid_code')
    const loggedIn = await post(instance, '/auth/passwordless/verify', { code }, preLogin)
    expect(loggedIn.status).toBe(200)
    const cookie = loggedIn.cookies.get('ejento_bff') as string
    const session = await request(`${server.base}/auth/session`, { headers: { cookie } })
    expect(await session.body.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email, full_name: 'Demo User' } })

    expect((await post(instance, '/auth/passwordless/start', { email: DEMO.email })).status).toBe(202)
    const limited = await post(instance, '/auth/passwordless/start', { email: DEMO.email })
    expect(limited.status).toBe(429)
    expect(limited.json.code).toBe('rate_limited')

    const output = server.stdout() + server.stderr()
    expect(output).toMatch(/password-less log-in started/)
    expect(secretsIn(output, [...otpSessionIds, ...sim.state.issuedTokens])).toEqual([])
    expect(output).not.toMatch(new RegExp(`(?<![0-9])${code}(?![0-9])`))
  })
})

/** A real HTTP call to an instance; answers status, body and the Set-Cookie pairs by name. */
async function post (instance: Pick<Instance, 'url'>, path: string, json: unknown, cookie?: string): Promise<{ status: number, json: any, cookies: Map<string, string> }> {
  const answer = await request(instance.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie === undefined ? {} : { cookie }) },
    body: JSON.stringify(json)
  })
  const text = await answer.body.text()
  const lines = [answer.headers['set-cookie'] ?? []].flat()
  const cookies = new Map(lines.map((line) => {
    const pair = line.split(';')[0] as string
    return [pair.slice(0, pair.indexOf('=')), pair] as const
  }))
  return { status: answer.statusCode, json: text === '' ? undefined : JSON.parse(text), cookies }
}

describeWithRedis('password-less log-in over Redis, two instances', () => {
  it('started on one instance, the code logs in on the other, by cookie or by address; one-time across both', async () => {
    const { sim, a, b } = await cluster({ sim: V2.sim, env: { ...V2.env, ...LIMITS } })
    const name = `${a.config.session.cookieName}-login`

    const first = await post(a, '/auth/passwordless/start', { email: DEMO.email })
    expect(first.status).toBe(202)
    const preLogin = first.cookies.get(name) as string
    const code = sim.lastMail(DEMO.email)?.code as string
    expect((await post(b, '/auth/passwordless/verify', { code: wrong(code) }, preLogin)).json.code).toBe('invalid_code')
    const loggedIn = await post(b, '/auth/passwordless/verify', { code }, preLogin)
    expect(loggedIn.status).toBe(200)
    expect(loggedIn.json.user).toMatchObject({ email: DEMO.email, full_name: 'Demo User' })
    expect(loggedIn.cookies.get(a.config.session.cookieName)).toBeDefined()
    expect((await post(a, '/auth/passwordless/verify', { code }, preLogin)).json.code).toBe('passwordless_not_started')

    await post(b, '/auth/passwordless/start', { email: DEMO.email })
    const second = sim.lastMail(DEMO.email)?.code as string
    const byAddress = await post(a, '/auth/passwordless/verify', { code: second, email: DEMO.email })
    expect(byAddress.status).toBe(200)
    expect((await post(b, '/auth/passwordless/verify', { code: second, email: DEMO.email })).json.code).toBe('passwordless_not_started')
  })
})
