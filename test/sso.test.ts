import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { appPath } from '../src/routes/auth/sso.js'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { ADMIN, DEMO, login, onCleanup, secretsIn, sessionCookie, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { GUIDE, V2, exactPath } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'
import { cluster, describeWithRedis } from './helpers/redis.js'

const LOGIN_COOKIE = 'ejento_bff-login'
const WHO_AM_I = V2.paths.whoAmI?.path as string
const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

async function v2 (env: Record<string, string> = {}): Promise<TestContext> {
  return await setup({ profile: V2, env: { ...LIMITS, ...env } })
}

/** The `name=value` of the pre-log-in cookie an answer set; '' when it cleared it. */
function loginCookie (response: LightMyRequestResponse): string | undefined {
  const cookie = response.cookies.findLast((candidate) => candidate.name === LOGIN_COOKIE)
  return cookie === undefined ? undefined : cookie.value === '' ? '' : `${cookie.name}=${cookie.value}`
}

/** A browser that started SSO through the BFF (inject) and went through the simulated IdP: its cookie and the callback URL Ejento sent it to. */
async function throughIdp (context: TestContext, options: { provider?: string, returnTo?: string, cookie?: string } = {}): Promise<{ cookie: string, callback: URL }> {
  const query = options.returnTo === undefined ? '' : `?return_to=${encodeURIComponent(options.returnTo)}`
  const started = await context.app.inject({ method: 'GET', url: `/auth/sso/${options.provider ?? 'google'}${query}`, headers: options.cookie === undefined ? {} : { cookie: options.cookie } })
  expect(started.statusCode, started.body).toBe(302)
  const atIdp = await fetch(started.headers.location as string, { redirect: 'manual' })
  expect(atIdp.status).toBe(302)
  return { cookie: loginCookie(started) as string, callback: new URL(atIdp.headers.get('location') as string) }
}

async function callback (context: TestContext, url: URL | string, cookie?: string): Promise<LightMyRequestResponse> {
  const target = typeof url === 'string' ? url : `${url.pathname}${url.search}`
  return await context.app.inject({ method: 'GET', url: target, headers: cookie === undefined ? {} : { cookie } })
}

/** A refused callback: 302 to the app with only a code, no session, the pre-log-in cookie cleared, nothing cached or passed on. */
function expectRefused (answer: LightMyRequestResponse, context: TestContext, code: string, base = ''): void {
  expect(answer.statusCode, answer.body).toBe(302)
  expect(answer.headers.location).toBe(`${base}/?login_error=${code}`)
  expect(sessionCookie(answer, context.config)).toBeUndefined()
  expect(loginCookie(answer)).toBe('')
  expect(answer.headers['referrer-policy']).toBe('no-referrer')
  expect(answer.headers['cache-control']).toBe('no-store')
}

async function sessionOf (context: TestContext, cookie: string): Promise<any> {
  return (await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })).json()
}

describe('SSO log-in on v2 (inject, the simulated IdP over HTTP)', () => {
  it('start: 302 to Ejento\'s SSO for the provider, next = the callback with a one-time state, and the pre-log-in cookie', async () => {
    const context = await v2()
    const answer = await context.app.inject({ method: 'GET', url: '/auth/sso/microsoft', headers: { host: 'app.example.test:8080' } })
    expect(answer.statusCode).toBe(302)
    const location = new URL(answer.headers.location as string)
    expect(`${location.origin}${location.pathname}`).toBe(`${context.sim.authUrl}/auth-service/api/v2/sso/microsoft/login`)
    expect([...location.searchParams.keys()]).toEqual(['next'])
    const next = new URL(location.searchParams.get('next') as string)
    // No PUBLIC_URL: the origin the browser used (only the attacker's own tokens could go to a forged one).
    expect(`${next.origin}${next.pathname}`).toBe('http://app.example.test:8080/auth/sso/callback')
    expect(next.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{32}$/)
    // The gateway key never goes to the browser.
    expect(answer.headers.location).not.toContain(V2.env.EJENTO_SUBSCRIPTION_KEY)
    expect(answer.cookies.find((cookie) => cookie.name === LOGIN_COOKIE)).toMatchObject({ path: '/auth', httpOnly: true, sameSite: 'Lax', maxAge: 600 })
    expect(loginCookie(answer)).not.toContain(next.searchParams.get('state'))
    expect(answer.headers['referrer-policy']).toBe('no-referrer')
    expect(answer.headers['cache-control']).toBe('no-store')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('callback: checks the tokens with who-am-I, starts a session as /auth/login does and lands on return_to, a clean URL', async () => {
    const context = await v2()
    const { cookie, callback: url } = await throughIdp(context, { returnTo: '/chat/5?tab=history#top' })
    expect(url.searchParams.get('token')).toBeTruthy()
    const answer = await callback(context, url, cookie)
    expect(answer.statusCode).toBe(302)
    expect(answer.headers.location).toBe('/chat/5?tab=history')
    expect(answer.headers['referrer-policy']).toBe('no-referrer')
    expect(answer.headers['cache-control']).toBe('no-store')
    expect(loginCookie(answer)).toBe('')
    expect(context.sim.requestsTo('api', exactPath(WHO_AM_I))).toHaveLength(1)
    const session = await sessionOf(context, sessionCookie(answer, context.config) as string)
    expect(session).toMatchObject({ authenticated: true, user: { email: DEMO.email, full_name: 'Demo User' } })
    expect(typeof session.user.id).toBe('string')
  })

  it('the SSO user is whoever Ejento says (ssoEmail), not anything the browser sent', async () => {
    const context = await setup({ profile: V2, env: LIMITS, sim: { ssoEmail: 'admin@example.com' } })
    const { cookie, callback: url } = await throughIdp(context)
    const answer = await callback(context, url, cookie)
    expect((await sessionOf(context, sessionCookie(answer, context.config) as string)).user).toMatchObject({ email: ADMIN.email, full_name: 'Demo Admin' })
  })

  it('log-in CSRF: a callback without the pre-log-in cookie is refused', async () => {
    const context = await v2()
    const { callback: url } = await throughIdp(context)
    expectRefused(await callback(context, url), context, 'sso_state_invalid')
    expect(context.sim.requestsTo('api', exactPath(WHO_AM_I))).toHaveLength(0)
  })

  it('log-in CSRF: the attacker\'s callback URL opened in the victim\'s browser (another log-in\'s cookie) is refused, and ends that log-in', async () => {
    const context = await v2()
    const attacker = await throughIdp(context)
    const victim = await throughIdp(context)
    expectRefused(await callback(context, attacker.callback, victim.cookie), context, 'sso_state_invalid')
    // The victim's own log-in was taken by the refusal: one-time, whatever the outcome.
    expectRefused(await callback(context, victim.callback, victim.cookie), context, 'sso_state_invalid')
    expect(context.sim.requestsTo('api', exactPath(WHO_AM_I))).toHaveLength(0)
  })

  it('a replayed callback is refused: the state works once, also by the browser that used it', async () => {
    const context = await v2()
    const { cookie, callback: url } = await throughIdp(context)
    expect((await callback(context, url, cookie)).headers.location).toBe('/')
    expectRefused(await callback(context, url, cookie), context, 'sso_state_invalid')
  })

  it('two callbacks at once with one state: one session', async () => {
    const context = await v2()
    const { cookie, callback: url } = await throughIdp(context)
    const answers = await Promise.all(Array.from({ length: 4 }, async () => await callback(context, url, cookie)))
    expect(answers.map((answer) => answer.headers.location).sort()).toEqual(['/', '/?login_error=sso_state_invalid', '/?login_error=sso_state_invalid', '/?login_error=sso_state_invalid'])
  })

  it.each([
    ['a wrong state', (url: URL) => { url.searchParams.set('state', 'A'.repeat(32)) }],
    ['no state', (url: URL) => { url.searchParams.delete('state') }],
    ['the state twice', (url: URL) => { url.searchParams.append('state', url.searchParams.get('state') as string) }]
  ])('%s is refused, and the right one no longer works after it', async (_what, spoil) => {
    const context = await v2()
    const { cookie, callback: url } = await throughIdp(context)
    const spoiled = new URL(url)
    spoil(spoiled)
    expectRefused(await callback(context, spoiled, cookie), context, 'sso_state_invalid')
    expectRefused(await callback(context, url, cookie), context, 'sso_state_invalid')
  })

  it('a forged pre-log-in cookie is no cookie', async () => {
    const context = await v2()
    const { cookie, callback: url } = await throughIdp(context)
    const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1))
    expectRefused(await callback(context, url, `${LOGIN_COOKIE}=${value.split('.')[0] as string}.forged`), context, 'sso_state_invalid')
  })

  it.each([
    // The auth-app token is the one checked (traded for a fresh pair); the URL's Ejento token is not kept.
    ['forged (the authentication server refuses them)', (url: URL) => {
      const token = url.searchParams.get('token') as string
      url.searchParams.set('token', `${token.slice(0, -4)}AAAA`)
    }],
    ['not tokens at all', (url: URL) => { url.searchParams.set('token', 'not a token'); url.searchParams.set('ejento_access_token', 'x') }],
    ['missing', (url: URL) => { url.searchParams.delete('ejento_access_token') }],
    ['given twice', (url: URL) => { url.searchParams.append('token', 'second') }]
  ])('tokens %s: no session, 302 with sso_tokens_invalid', async (_what, spoil) => {
    const context = await v2()
    const { cookie, callback: url } = await throughIdp(context)
    spoil(url)
    expectRefused(await callback(context, url, cookie), context, 'sso_tokens_invalid')
  })

  it('who-am-I unreachable: no session, 302 with sso_upstream_unavailable', async () => {
    const context = await v2()
    const { cookie, callback: url } = await throughIdp(context)
    context.sim.inject({ upstream: 'api', path: exactPath(WHO_AM_I), status: 503, body: { success: false, message: 'down' } })
    expectRefused(await callback(context, url, cookie), context, 'sso_upstream_unavailable')
  })

  it('replaces the browser\'s previous session as /auth/login does', async () => {
    const context = await v2()
    const before = await login(context, ADMIN)
    const { cookie, callback: url } = await throughIdp(context, { cookie: before })
    const answer = await callback(context, url, `${before}; ${cookie}`)
    const after = sessionCookie(answer, context.config) as string
    expect(after).not.toBe(before)
    expect(await sessionOf(context, before)).toEqual({ authenticated: false })
    expect(await sessionOf(context, after)).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
  })

  it('the tokens on the URL are in no log line (the request line is censored) and in no answer', async () => {
    const context = await v2()
    const { cookie, callback: url } = await throughIdp(context)
    const answer = await callback(context, url, cookie)
    const secrets = [url.searchParams.get('token') as string, url.searchParams.get('ejento_access_token') as string, url.searchParams.get('state') as string]
    const lines = context.logs.map((line) => JSON.parse(line) as { req?: { url?: string } })
    const requestLine = lines.find((line) => line.req?.url?.startsWith('/auth/sso/callback?') === true)
    expect(requestLine?.req?.url).toBe('/auth/sso/callback?state=[redacted]&token=[redacted]&ejento_access_token=[redacted]')
    expect(secretsIn(context.logs.join(''), secrets)).toEqual([])
    expect(secretsIn(`${JSON.stringify(answer.headers)}${answer.body}`, secrets)).toEqual([])
  })

  it('return_to must be a path of this app: anything else is 400 invalid_return_to and nothing starts', async () => {
    const context = await v2()
    for (const returnTo of ['//evil.example', '/\\evil.example', 'https://evil.example/', 'evil', '/ok\r\nSet-Cookie: x=1', 'javascript:alert(1)', `/${'a'.repeat(2048)}`]) {
      const answer = await context.app.inject({ method: 'GET', url: `/auth/sso/google?return_to=${encodeURIComponent(returnTo)}` })
      expect(answer.statusCode, returnTo).toBe(400)
      expect(['invalid_return_to', 'validation_failed']).toContain(answer.json().code)
      expect(loginCookie(answer)).toBeUndefined()
    }
  })

  it.each(['Google', 'goo/gle', '-google', 'a'.repeat(33), 'google%2F..%2F..'])('an unsafe provider %s is 400 and reaches no upstream', async (provider) => {
    const context = await v2()
    const answer = await context.app.inject({ method: 'GET', url: `/auth/sso/${provider}` })
    expect([400, 404]).toContain(answer.statusCode)
    expect(answer.headers.location).toBeUndefined()
    expect(loginCookie(answer)).toBeUndefined()
  })

  it('with PUBLIC_URL: next is built on it, never on the Host, and the browser lands under it', async () => {
    const context = await v2({ PUBLIC_URL: 'https://chat.example.com/app' })
    const started = await context.app.inject({ method: 'GET', url: '/auth/sso/google?return_to=/c/1', headers: { host: 'evil.example' } })
    const next = new URL(new URL(started.headers.location as string).searchParams.get('next') as string)
    expect(`${next.origin}${next.pathname}`).toBe('https://chat.example.com/app/auth/sso/callback')
    const cookie = loginCookie(started) as string
    const url = new URL((await fetch(started.headers.location as string, { redirect: 'manual' })).headers.get('location') as string)
    const answer = await callback(context, `/auth/sso/callback${url.search}`, cookie)
    expect(answer.headers.location).toBe('https://chat.example.com/app/c/1')
    expectRefused(await callback(context, `/auth/sso/callback${url.search}`, cookie), context, 'sso_state_invalid', 'https://chat.example.com/app')
  })

  it('the start is rate limited per client address', async () => {
    const context = await setup({ profile: V2, env: { AUTH_RATE_LIMIT_PER_IP: '2', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' } })
    expect((await context.app.inject({ method: 'GET', url: '/auth/sso/google' })).statusCode).toBe(302)
    expect((await context.app.inject({ method: 'GET', url: '/auth/sso/google' })).statusCode).toBe(302)
    const limited = await context.app.inject({ method: 'GET', url: '/auth/sso/google' })
    expect(limited.statusCode).toBe(429)
    expect(limited.json().code).toBe('rate_limited')
  })
})

describe('magic links (password-less start with PUBLIC_URL) land on the SSO callback', () => {
  const PUBLIC_URL = 'http://chat.example.test'

  it('the link logs in the browser that asked for it, once; the code is used up with it', async () => {
    const context = await v2({ PUBLIC_URL })
    const started = await context.app.inject({ method: 'POST', url: '/auth/passwordless/start', payload: { email: DEMO.email } })
    const cookie = loginCookie(started) as string
    const mail = context.sim.lastMail(DEMO.email)
    const link = new URL(mail?.magicLink as string)
    expect(link.origin).toBe(PUBLIC_URL)

    const answer = await callback(context, link, cookie)
    expect(answer.statusCode).toBe(302)
    expect(answer.headers.location).toBe(`${PUBLIC_URL}/`)
    expect(answer.headers['referrer-policy']).toBe('no-referrer')
    expect(await sessionOf(context, sessionCookie(answer, context.config) as string)).toMatchObject({ authenticated: true, user: { email: DEMO.email, full_name: 'Demo User' } })

    expectRefused(await callback(context, link, cookie), context, 'sso_state_invalid', PUBLIC_URL)
    const verify = await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', payload: { code: mail?.code, email: DEMO.email } })
    expect(verify.json().code).toBe('passwordless_not_started')
  })

  it('a link opened in another browser (no pre-log-in cookie) logs nobody in; the code still works where it was asked for', async () => {
    const context = await v2({ PUBLIC_URL })
    const started = await context.app.inject({ method: 'POST', url: '/auth/passwordless/start', payload: { email: DEMO.email } })
    const mail = context.sim.lastMail(DEMO.email)
    expectRefused(await callback(context, new URL(mail?.magicLink as string)), context, 'sso_state_invalid', PUBLIC_URL)
    const verify = await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', headers: { cookie: loginCookie(started) as string }, payload: { code: mail?.code } })
    expect(verify.statusCode).toBe(200)
  })
})

describe('SSO on guide', () => {
  it('both routes answer 501 not_supported and call no upstream', async () => {
    const context = await setup({ profile: GUIDE })
    for (const url of ['/auth/sso/google', '/auth/sso/callback?state=x&token=y&ejento_access_token=z']) {
      const answer = await context.app.inject({ method: 'GET', url })
      expect(answer.statusCode).toBe(501)
      expect(answer.json().code).toBe('not_supported')
      expect(loginCookie(answer)).toBeUndefined()
    }
    expect(context.sim.requests).toHaveLength(0)
  })
})

describe('appPath (return_to)', () => {
  it.each([
    [undefined, '/'],
    ['', '/'],
    ['/', '/'],
    ['/chat', '/chat'],
    ['/chat/../admin?x=1#frag', '/admin?x=1'],
    ['/%0d%0a', '/%0d%0a'],
    ['/a b', null],
    ['/ok\r\n', null],
    ['//evil.example/x', null],
    ['/\\evil.example', null],
    ['https://evil.example', null]
  ])('%s → %s', (value, expected) => {
    expect(appPath(value)).toBe(expected)
  })
})

/** The `name=value` pairs a fetch answer set, by name. */
function setCookies (answer: Response): Map<string, string> {
  return new Map(answer.headers.getSetCookie().map((line) => {
    const pair = line.split(';')[0] as string
    return [pair.slice(0, pair.indexOf('=')), pair] as const
  }))
}

/** The whole chain over real sockets, as a browser follows it: BFF → simulated Ejento → BFF callback → the app. */
async function followChain (server: RealServer, cookie?: string): Promise<{ callback: URL, preLogin: string, landed: Response }> {
  const started = await fetch(`${server.base}/auth/sso/google?return_to=/welcome`, { redirect: 'manual', headers: cookie === undefined ? {} : { cookie } })
  expect(started.status).toBe(302)
  expect(started.headers.get('referrer-policy')).toBe('no-referrer')
  const preLogin = setCookies(started).get(LOGIN_COOKIE) as string
  const atIdp = await fetch(started.headers.get('location') as string, { redirect: 'manual' })
  expect(atIdp.status).toBe(302)
  const callback = new URL(atIdp.headers.get('location') as string)
  expect(callback.origin).toBe(server.base)
  const landed = await fetch(callback, { redirect: 'manual', headers: { cookie: [cookie, preLogin].filter((part) => part !== undefined).join('; ') } })
  return { callback, preLogin, landed }
}

describe('SSO on the compiled server over real sockets', () => {
  async function realV2 (): Promise<{ sim: Simulator, server: RealServer }> {
    const sim = await startSimulator(V2.sim)
    onCleanup(sim.close)
    return { sim, server: await startRealServer(sim, { ...V2.env, ...LIMITS }) }
  }

  it('BFF 302 → Ejento 302 → BFF callback 302 → the app; the cookie works on /auth/session; no token in a log line', async () => {
    const { sim, server } = await realV2()
    const { callback, landed } = await followChain(server)
    expect(landed.status).toBe(302)
    expect(landed.headers.get('location')).toBe('/welcome')
    expect(landed.headers.get('referrer-policy')).toBe('no-referrer')
    expect(landed.headers.get('cache-control')).toBe('no-store')
    const cookie = setCookies(landed).get('ejento_bff') as string
    expect(cookie).toBeDefined()
    expect(setCookies(landed).get(LOGIN_COOKIE)).toBe(`${LOGIN_COOKIE}=`)
    const session = await (await fetch(`${server.base}/auth/session`, { headers: { cookie } })).json()
    expect(session).toMatchObject({ authenticated: true, user: { email: DEMO.email, full_name: 'Demo User' } })
    const threads = await fetch(`${server.base}/api/agents/1/chat-threads`, { headers: { cookie } })
    expect(threads.status).toBe(200)

    const secrets = [callback.searchParams.get('token') as string, callback.searchParams.get('ejento_access_token') as string, ...sim.state.issuedTokens]
    expect(secretsIn(server.stdout() + server.stderr(), secrets)).toEqual([])
    const line = server.logs().find((entry) => String((entry.req as { url?: string } | undefined)?.url).startsWith('/auth/sso/callback'))
    expect((line?.req as { url: string }).url).toBe('/auth/sso/callback?state=[redacted]&token=[redacted]&ejento_access_token=[redacted]')
  })

  it('refuses a callback without the cookie, with another browser\'s, replayed, or with a wrong state: no session', async () => {
    const { server } = await realV2()
    const noSession = async (answer: Response, code: string): Promise<void> => {
      expect(answer.status).toBe(302)
      expect(answer.headers.get('location')).toBe(`/?login_error=${code}`)
      expect(setCookies(answer).has('ejento_bff')).toBe(false)
      expect(answer.headers.get('referrer-policy')).toBe('no-referrer')
    }
    const victim = await fetch(`${server.base}/auth/sso/google`, { redirect: 'manual' })
    const victimCookie = setCookies(victim).get(LOGIN_COOKIE) as string

    const attacker = await followChain(server)
    expect(attacker.landed.headers.get('location')).toBe('/welcome')
    // Replayed, with the cookie and without it.
    await noSession(await fetch(attacker.callback, { redirect: 'manual', headers: { cookie: attacker.preLogin } }), 'sso_state_invalid')
    await noSession(await fetch(attacker.callback, { redirect: 'manual' }), 'sso_state_invalid')
    // The attacker's URL in the victim's browser.
    await noSession(await fetch(attacker.callback, { redirect: 'manual', headers: { cookie: victimCookie } }), 'sso_state_invalid')

    // A wrong state with the right cookie.
    const started = await fetch(`${server.base}/auth/sso/google`, { redirect: 'manual' })
    const atIdp = await fetch(started.headers.get('location') as string, { redirect: 'manual' })
    const wrong = new URL(atIdp.headers.get('location') as string)
    wrong.searchParams.set('state', 'B'.repeat(32))
    await noSession(await fetch(wrong, { redirect: 'manual', headers: { cookie: setCookies(started).get(LOGIN_COOKIE) as string } }), 'sso_state_invalid')
  })

  it('forged tokens with a valid state: the authentication server refuses them, no session', async () => {
    const { server } = await realV2()
    const started = await fetch(`${server.base}/auth/sso/google`, { redirect: 'manual' })
    const atIdp = await fetch(started.headers.get('location') as string, { redirect: 'manual' })
    const url = new URL(atIdp.headers.get('location') as string)
    const token = url.searchParams.get('token') as string
    url.searchParams.set('token', `${token.slice(0, -4)}AAAA`)
    const answer = await fetch(url, { redirect: 'manual', headers: { cookie: setCookies(started).get(LOGIN_COOKIE) as string } })
    expect(answer.headers.get('location')).toBe('/?login_error=sso_tokens_invalid')
    expect(setCookies(answer).has('ejento_bff')).toBe(false)
  })
})

describeWithRedis('SSO over Redis, two instances', () => {
  it('started on one instance, the callback lands on the other; once', async () => {
    const { a, b } = await cluster({ sim: V2.sim, env: { ...V2.env, ...LIMITS } })
    const started = await fetch(`${a.url}/auth/sso/google`, { redirect: 'manual' })
    const preLogin = setCookies(started).get(LOGIN_COOKIE) as string
    const atIdp = await fetch(started.headers.get('location') as string, { redirect: 'manual' })
    const back = new URL(atIdp.headers.get('location') as string)
    const onB = `${b.url}${back.pathname}${back.search}`
    const landed = await fetch(onB, { redirect: 'manual', headers: { cookie: preLogin } })
    expect(landed.headers.get('location')).toBe('/')
    const cookie = setCookies(landed).get(a.config.session.cookieName) as string
    expect(await (await fetch(`${a.url}/auth/session`, { headers: { cookie } })).json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    const again = await fetch(`${a.url}${back.pathname}${back.search}`, { redirect: 'manual', headers: { cookie: preLogin } })
    expect(again.headers.get('location')).toBe('/?login_error=sso_state_invalid')
  })
})
