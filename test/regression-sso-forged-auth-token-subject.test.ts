import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { V2 } from './helpers/profiles.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

const LOGIN_COOKIE = 'ejento_bff-login'
const SESSION_COOKIE = 'ejento_bff'
const ATTACKER = 'mallory@example.com'
const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

function setCookie (answer: Response, name: string): string | undefined {
  return answer.headers.getSetCookie().map((line) => line.split(';')[0] as string).findLast((pair) => pair.startsWith(`${name}=`) && pair !== `${name}=`)
}

/** An unsigned JWT naming `sub`: anyone can write one. */
function forgedToken (sub: string): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub, exp: 4_102_444_800 })}.`
}

/** The attacker's own SSO log-in, driven with a plain HTTP client: the callback URL Ejento sent, with her own tokens on it, kept instead of followed. */
async function attackersCallback (server: RealServer): Promise<{ url: URL, preLogin: string }> {
  const started = await fetch(`${server.base}/auth/sso/google`, { redirect: 'manual' })
  const preLogin = setCookie(started, LOGIN_COOKIE) as string
  const atIdp = await fetch(started.headers.get('location') as string, { redirect: 'manual' })
  return { url: new URL(atIdp.headers.get('location') as string), preLogin }
}

/**
 * Regression: the SSO callback takes both tokens off a URL anyone can write, and checked only
 * the Ejento token (v2's who-am-I); the user id was read, unverified, from the auth-app token's
 * `sub`. An attacker with her own SSO log-in swapped in an unsigned JWT naming the victim's id:
 * her session was filed under the victim's id, so `GET /auth/sessions` listed the victim's
 * sessions (devices, addresses, times) and `DELETE /auth/sessions` logged the victim out
 * everywhere. The auth-app token must be Ejento's before anything is read from it.
 */
describe('regression: the SSO callback trusted the user id of an unverified auth-app token', () => {
  it('compiled server: a forged auth-app token naming the victim logs nobody in, and the victim\'s sessions stay out of reach', async () => {
    const sim = await startSimulator({ ...V2.sim, ssoEmail: ATTACKER })
    onCleanup(sim.close)
    const server = await startRealServer(sim, { ...V2.env, ...LIMITS })
    const victim = await realLogin(server.base)
    const victimId = ((await (await fetch(`${server.base}/auth/session`, { headers: { cookie: victim } })).json()) as { user: { id: string } }).user.id
    expect(victimId).toBeTruthy()

    const { url, preLogin } = await attackersCallback(server)
    url.searchParams.set('token', forgedToken(victimId))
    const landed = await fetch(url, { redirect: 'manual', headers: { cookie: preLogin } })
    expect(landed.status).toBe(302)
    expect(landed.headers.get('location')).toBe('/?login_error=sso_tokens_invalid')
    const attacker = setCookie(landed, SESSION_COOKIE)
    expect(attacker).toBeUndefined()

    // Had a session started, it could not reach the victim's.
    if (attacker !== undefined) {
      const listed = await (await fetch(`${server.base}/auth/sessions`, { headers: { cookie: attacker } })).json() as { sessions: unknown[] }
      expect(listed.sessions).toHaveLength(1)
      await fetch(`${server.base}/auth/sessions`, { method: 'DELETE', headers: { cookie: attacker } })
    }
    expect(await (await fetch(`${server.base}/auth/session`, { headers: { cookie: victim } })).json()).toMatchObject({ authenticated: true, user: { id: victimId } })
  })

  it('compiled server: the attacker\'s genuine tokens log her in as herself, filed apart from the victim', async () => {
    const sim = await startSimulator({ ...V2.sim, ssoEmail: ATTACKER })
    onCleanup(sim.close)
    const server = await startRealServer(sim, { ...V2.env, ...LIMITS })
    const victim = await realLogin(server.base)

    const { url, preLogin } = await attackersCallback(server)
    const landed = await fetch(url, { redirect: 'manual', headers: { cookie: preLogin } })
    expect(landed.headers.get('location')).toBe('/')
    const attacker = setCookie(landed, SESSION_COOKIE) as string
    const session = await (await fetch(`${server.base}/auth/session`, { headers: { cookie: attacker } })).json() as { user: { id: string, email: string } }
    expect(session.user.email).toBe(ATTACKER)
    const attackerUser = [...sim.state.users.values()].find((user) => user.email === ATTACKER)
    expect(session.user.id).toBe(attackerUser?.id)
    expect(((await (await fetch(`${server.base}/auth/sessions`, { headers: { cookie: attacker } })).json()) as { sessions: unknown[] }).sessions).toHaveLength(1)
    expect((await fetch(`${server.base}/auth/sessions`, { method: 'DELETE', headers: { cookie: attacker } })).status).toBe(204)
    expect(await (await fetch(`${server.base}/auth/session`, { headers: { cookie: victim } })).json()).toMatchObject({ authenticated: true })
  })
})
