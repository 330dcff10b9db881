import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup, setup } from './helpers/app.js'
import { V2 } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'

const ATTACKER = 'mallory@example.com'
/** A secure deployment behind a TLS-terminating proxy (the test speaks plain HTTP on loopback). */
const SECURE = { COOKIE_SECURE: 'true', TRUST_PROXY: 'loopback', AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }
const HTTPS = { 'x-forwarded-proto': 'https' }
/** The name a page on a sibling host (any.example.com) can set for this one, Domain=example.com: anything but __Host-. */
const TOSSABLE = '__Secure-ejento_bff-login'

function pairs (answer: Response): string[] {
  return answer.headers.getSetCookie().map((line) => line.split(';')[0] as string)
}

/**
 * Regression: with COOKIE_SECURE the session cookie is `__Host-` (no other host can set it),
 * but the pre-log-in cookie, which the SSO callback's log-in CSRF defence rests on, was
 * `__Secure-...-login; Path=/auth`, and a page on any sibling host can set such a cookie with
 * `Domain=<parent>`. An attacker with one (a user-content host, a forgotten subdomain) started
 * SSO herself, kept her signed pre-log-in cookie and her callback URL, set that cookie in the
 * victim's browser and sent it to the URL: the victim was logged in as the attacker, whose
 * conversation history then held whatever the victim asked. Now `__Host-...-login; Path=/`.
 */
describe('regression: the pre-log-in cookie could be planted from a sibling host (log-in CSRF)', () => {
  it('compiled server: the attacker\'s callback with her pre-log-in cookie tossed under a settable name logs the victim in as nobody', async () => {
    const sim = await startSimulator({ ...V2.sim, ssoEmail: ATTACKER })
    onCleanup(sim.close)
    const server = await startRealServer(sim, { ...V2.env, ...SECURE })

    // The attacker, in her own browser: SSO started, the callback URL with her tokens kept.
    const started = await fetch(`${server.base}/auth/sso/google`, { redirect: 'manual', headers: HTTPS })
    expect(started.status).toBe(302)
    const [preLogin] = pairs(started).filter((pair) => pair.includes('-login='))
    const value = (preLogin as string).slice((preLogin as string).indexOf('=') + 1)
    const callback = (await fetch(started.headers.get('location') as string, { redirect: 'manual' })).headers.get('location') as string

    // The victim's browser: the tossed cookie, and the callback URL.
    const landed = await fetch(new URL(new URL(callback).pathname + new URL(callback).search, server.base), { redirect: 'manual', headers: { ...HTTPS, cookie: `${TOSSABLE}=${value}` } })
    expect(landed.headers.get('location')).toBe('/?login_error=sso_state_invalid')
    expect(pairs(landed).some((pair) => pair.startsWith('__Host-ejento_bff=') && pair !== '__Host-ejento_bff=')).toBe(false)
  })

  it('compiled server: the pre-log-in cookie is __Host-: Secure, Path=/, no Domain; the browser that started the log-in still ends it', async () => {
    const sim = await startSimulator(V2.sim)
    onCleanup(sim.close)
    const server = await startRealServer(sim, { ...V2.env, ...SECURE })
    const started = await fetch(`${server.base}/auth/sso/google?return_to=/chat`, { redirect: 'manual', headers: HTTPS })
    const line = started.headers.getSetCookie().find((candidate) => candidate.includes('-login=')) as string
    expect(line.startsWith('__Host-ejento_bff-login=')).toBe(true)
    const attributes = line.split(';').slice(1).map((attribute) => attribute.trim().toLowerCase())
    expect(attributes).toEqual(expect.arrayContaining(['path=/', 'secure', 'httponly', 'samesite=lax']))
    expect(attributes.some((attribute) => attribute.startsWith('domain='))).toBe(false)

    const callback = new URL((await fetch(started.headers.get('location') as string, { redirect: 'manual' })).headers.get('location') as string)
    const landed = await fetch(new URL(callback.pathname + callback.search, server.base), { redirect: 'manual', headers: { ...HTTPS, cookie: line.split(';')[0] as string } })
    expect(landed.headers.get('location')).toBe('/chat')
    const cleared = landed.headers.getSetCookie().find((candidate) => candidate.startsWith('__Host-ejento_bff-login=;'))
    expect(cleared?.toLowerCase()).toContain('path=/;')
  })

  it('inject: password-less, the same cookie; a code sent with it logs in', async () => {
    const context = await setup({ profile: V2, env: SECURE })
    const answer = await context.app.inject({ method: 'POST', url: '/auth/passwordless/start', headers: HTTPS, payload: { email: 'demo@example.com' } })
    const preLogin = answer.cookies.find((cookie) => cookie.name === '__Host-ejento_bff-login')
    expect(preLogin).toMatchObject({ path: '/', httpOnly: true, secure: true, sameSite: 'Lax' })
    expect(preLogin?.domain).toBeUndefined()
    const code = context.sim.lastMail('demo@example.com')?.code as string
    const loggedIn = await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', headers: { ...HTTPS, cookie: `${preLogin?.name}=${preLogin?.value}` }, payload: { code } })
    expect(loggedIn.statusCode).toBe(200)
  })
})
