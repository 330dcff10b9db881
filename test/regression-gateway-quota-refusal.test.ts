import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { DEMO, login, onCleanup, setup } from './helpers/app.js'
import { V2, exactPath } from './helpers/profiles.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/** Hosted Ejento's API gateway (Azure API Management) when the BFF's subscription is out of its call quota. */
const QUOTA = { statusCode: 403, message: 'Out of call volume quota. Quota will be replenished in 00:00:05.' }
const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }
const AUTH = V2.paths.auth

function outOfQuota (sim: Simulator, upstream: 'auth' | 'api', path: string | RegExp): void {
  sim.inject({ upstream, path: typeof path === 'string' ? exactPath(path) : path, status: 403, body: QUOTA, headers: { 'retry-after': '5' } })
}

async function expectQuotaProblem (answer: Response): Promise<void> {
  const body = await answer.json() as { code?: string }
  expect(answer.status, JSON.stringify(body)).toBe(503)
  expect(body.code).toBe('upstream_quota_exceeded')
  expect(answer.headers.get('retry-after')).toBe('5')
  expect(answer.headers.get('content-type')).toContain('application/problem+json')
}

/**
 * Regression: hosted Ejento's API gateway answers the BFF's subscription running out of its
 * call quota itself, with 403 `{statusCode: 403, message: "Out of call volume quota..."}`,
 * before Ejento sees the call. The BFF took it for Ejento refusing the user: a refresh under
 * quota was a refused refresh that ended the session (401 session_expired) though its tokens
 * were good, a log-in answered 401 invalid_credentials ("Incorrect email or password"), a
 * password-less code 401 invalid_code. The quota is the deployment's, and passes: a 503 with
 * the gateway's Retry-After, and no session ends over it.
 */
describe('regression: the gateway\'s out-of-quota 403 was taken for Ejento refusing the user', () => {
  async function realV2 (): Promise<{ sim: Simulator, server: RealServer }> {
    const sim = await startSimulator(V2.sim)
    onCleanup(sim.close)
    return { sim, server: await startRealServer(sim, { ...V2.env, ...LIMITS }) }
  }

  it('compiled server: a refresh under quota ends no session; it refreshes once the quota is back', async () => {
    const { sim, server } = await realV2()
    const cookie = await realLogin(server.base)
    outOfQuota(sim, 'auth', AUTH.refresh)
    await expectQuotaProblem(await fetch(`${server.base}/auth/refresh`, { method: 'POST', headers: { cookie } }))
    expect(await (await fetch(`${server.base}/auth/session`, { headers: { cookie } })).json()).toMatchObject({ authenticated: true })
    expect((await fetch(`${server.base}/auth/refresh`, { method: 'POST', headers: { cookie } })).status).toBeLessThan(300)
  })

  it('compiled server: a log-in under quota is not told its password is wrong', async () => {
    const { sim, server } = await realV2()
    outOfQuota(sim, 'auth', AUTH.login)
    await expectQuotaProblem(await fetch(`${server.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(DEMO) }))
    expect((await fetch(`${server.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(DEMO) })).status).toBe(200)
  })

  it('compiled server: an API call under quota is a 503 problem, and the session is kept', async () => {
    const { sim, server } = await realV2()
    const cookie = await realLogin(server.base)
    outOfQuota(sim, 'api', /chat-threads$/)
    await expectQuotaProblem(await fetch(`${server.base}/api/agents/1/chat-threads`, { headers: { cookie } }))
    expect((await fetch(`${server.base}/api/agents/1/chat-threads`, { headers: { cookie } })).status).toBe(200)
  })

  it('inject: a password-less start under quota is not a 202 for a code that never comes; a verify is not invalid_code, and the code works after', async () => {
    const context = await setup({ profile: V2, env: LIMITS })
    outOfQuota(context.sim, 'auth', AUTH.passwordlessStart as string)
    const refused = await context.app.inject({ method: 'POST', url: '/auth/passwordless/start', payload: { email: DEMO.email } })
    expect(refused.statusCode, refused.body).toBe(503)
    expect(refused.json().code).toBe('upstream_quota_exceeded')

    const started = await context.app.inject({ method: 'POST', url: '/auth/passwordless/start', payload: { email: DEMO.email } })
    expect(started.statusCode).toBe(202)
    const cookie = started.cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ')
    const code = context.sim.lastMail(DEMO.email)?.code as string
    outOfQuota(context.sim, 'auth', AUTH.passwordlessVerify as string)
    const underQuota = await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', headers: { cookie }, payload: { code } })
    expect(underQuota.statusCode, underQuota.body).toBe(503)
    expect(underQuota.json().code).toBe('upstream_quota_exceeded')
    expect((await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', headers: { cookie }, payload: { code } })).statusCode).toBe(200)
  })

  it('inject: an answer that only looks like it (Ejento\'s own 403 about a quota, no gateway statusCode) is still Ejento\'s', async () => {
    const context = await setup({ profile: V2, env: LIMITS })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: /chat-threads$/, status: 403, body: { success: false, message: 'Your plan\'s quota of agents is used up.' } })
    const answer = await context.app.inject({ method: 'GET', url: '/api/agents/1/chat-threads', headers: { cookie } })
    expect(answer.statusCode).toBe(403)
    expect(answer.json()).toEqual({ success: false, message: 'Your plan\'s quota of agents is used up.' })
  })
})
