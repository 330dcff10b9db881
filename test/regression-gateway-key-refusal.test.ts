import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { DEMO, login, onCleanup, setup } from './helpers/app.js'
import { V2 } from './helpers/profiles.js'
import { realLogin, startRealServer } from './helpers/real-server.js'

/** A key hosted Ejento's API gateway does not know (a typo, or one it has since revoked). */
const WRONG_KEY = 'wrong-subscription-key-0123456789'

/**
 * Regression (found converting the contract tests to both profiles): on v2, hosted Ejento's API
 * gateway answers a missing or wrong `Ocp-Apim-Subscription-Key` with 401 `{statusCode,
 * message: 'Access denied due to ... subscription key ...'}` before Ejento sees the call. The BFF
 * takes that 401 for Ejento's own: a log-in answers 401 `invalid_credentials` ("Incorrect email
 * or password") to every user, and a key the gateway stops taking (rotated, revoked) turns the
 * next call of every session into a refused refresh that ends it, though the session's tokens
 * are good and work again once the key is fixed. The gateway's refusal is the server's
 * misconfiguration: a 5xx problem, never the user's password, never the end of a session.
 */
describe('regression: the gateway refusing the subscription key was taken for Ejento refusing the user', () => {
  it('a log-in through a gateway that refuses the key is a 5xx problem, not invalid_credentials', async () => {
    const context = await setup({ profile: V2, env: { EJENTO_SUBSCRIPTION_KEY: WRONG_KEY } })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(context.sim.counter('subscription_key_rejected')).toBe(1)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(response.json().code).not.toBe('invalid_credentials')
    expect(response.statusCode, response.body).toBeGreaterThanOrEqual(500)
    expect(response.body).not.toContain(WRONG_KEY)
  })

  it('a session whose calls the gateway starts refusing is kept, and works again once the key does', async () => {
    const context = await setup({ profile: V2 })
    const cookie = await login(context)
    const key = context.sim.state.settings.subscriptionKey
    // The gateway's key is rotated before the BFF's.
    context.sim.configure({ subscriptionKey: 'rotated-subscription-key-0123456789' })

    const refused = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })
    expect(refused.json().code, refused.body).not.toBe('session_expired')
    expect(refused.statusCode).toBeGreaterThanOrEqual(500)

    context.sim.configure({ subscriptionKey: key })
    expect((await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })).json().authenticated).toBe(true)
    const thread = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })
    expect(thread.statusCode, thread.body).toBe(201)
  })

  it('on the compiled server too, a refused key ends no session', async () => {
    const sim = await startSimulator(V2.sim)
    onCleanup(sim.close)
    const server = await startRealServer(sim, V2.env)
    const cookie = await realLogin(server.base)
    sim.configure({ subscriptionKey: 'rotated-subscription-key-0123456789' })

    const refused = await fetch(`${server.base}/auth/refresh`, { method: 'POST', headers: { cookie } })
    const body = await refused.json() as { code?: string }
    expect(body.code).not.toBe('session_expired')
    expect(refused.status).toBeGreaterThanOrEqual(500)

    sim.configure({ subscriptionKey: V2.sim.subscriptionKey })
    const session = await fetch(`${server.base}/auth/session`, { headers: { cookie } })
    expect(await session.json()).toMatchObject({ authenticated: true })
  })
})
