import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { MemorySessionStore } from '../src/session/memory-store.js'
import { startSimulator } from '../src/simulator/index.js'
import { ADMIN, DEMO, login, onCleanup, sessionCookie, setup, sleep } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { describeWithRedis, redisClient, testPrefix } from './helpers/redis.js'

const RATE_LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

async function loginWith (context: TestContext, cookie: string | undefined, credentials = DEMO): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: 'POST', url: '/auth/login', payload: credentials, headers: cookie === undefined ? {} : { cookie } })
}

async function isAuthenticated (context: TestContext, cookie: string): Promise<boolean> {
  const answer = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
  return (answer.json() as { authenticated: boolean }).authenticated
}

// Issue 16, item 4: two log-ins sent with the same cookie left one orphaned, working session that
// an ordinary log-out did not end.
describe('regression: concurrent log-ins with one cookie leave no orphan', () => {
  for (const previous of ['alive', 'logged out'] as const) {
    it(`five at once from a browser whose session is ${previous} end up in one session, which one log-out ends`, async () => {
      const store = new MemorySessionStore({ maxCount: 1000 })
      const context = await setup({ env: RATE_LIMITS, store })
      const first = await login(context)
      if (previous === 'logged out') await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: first } })
      const before = store.size

      const answers = await Promise.all(Array.from({ length: 5 }, async () => await loginWith(context, first)))

      expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200, 200, 200, 200])
      const cookies = new Set(answers.map((answer) => sessionCookie(answer, context.config)))
      expect(cookies.size).toBe(1)
      const [cookie] = [...cookies] as [string]
      expect(store.size).toBe(previous === 'alive' ? before : before + 1)
      expect(await isAuthenticated(context, first)).toBe(false)

      expect((await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })).statusCode).toBe(204)
      expect(store.size).toBe(0)
    })
  }

  it('does not hand a browser\'s new session to someone else who logs in with its old cookie (a planted cookie)', async () => {
    const context = await setup({ env: RATE_LIMITS })
    const planted = await login(context, ADMIN)
    // The victim logs in with the planted cookie; the planter logs in again with it, as themselves.
    const victim = sessionCookie(await loginWith(context, planted, DEMO), context.config) as string
    const planter = sessionCookie(await loginWith(context, planted, ADMIN), context.config) as string

    expect(planter).not.toBe(victim)
    const seen = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie: victim } })
    expect(seen.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
  })

  it('a later log-in of the same browser (not concurrent) still gets a brand-new id', async () => {
    const context = await setup({ env: RATE_LIMITS })
    const first = await login(context)
    const second = sessionCookie(await loginWith(context, first), context.config) as string
    await sleep(5)
    const third = sessionCookie(await loginWith(context, second), context.config) as string
    expect(new Set([first, second, third]).size).toBe(3)
    expect(await isAuthenticated(context, third)).toBe(true)
    expect(await isAuthenticated(context, second)).toBe(false)
  })
})

describeWithRedis('regression: concurrent log-ins with one cookie, two compiled instances on Redis', () => {
  it('end up in one session whichever instance answers, and one log-out leaves none of that user\'s', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const prefix = testPrefix()
    const env = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: prefix, ...RATE_LIMITS }
    const a = await startRealServer(sim, env)
    const b = await startRealServer(sim, env)
    const first = await realLogin(a.base)

    const answers = await Promise.all(Array.from({ length: 6 }, async (_, index) => await fetch(`${(index % 2 === 0 ? a : b).base}/auth/login`, {
      method: 'POST', headers: { cookie: first, 'content-type': 'application/json' }, body: JSON.stringify(DEMO)
    })))
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200])
    const cookies = new Set(answers.map((answer) => answer.headers.getSetCookie().map((line) => line.split(';')[0] as string).find((pair) => !pair.endsWith('='))))
    expect(cookies.size).toBe(1)
    const [cookie] = [...cookies] as [string]

    expect((await fetch(`${b.base}/auth/logout`, { method: 'POST', headers: { cookie } })).status).toBe(204)
    const redis = redisClient()
    const sessions = await redis.keys(`${prefix}session:*`)
    expect(sessions).toEqual([])
  })
})

describe('regression: a request that outlives its session does not clear a newer cookie', () => {
  it('a call whose refresh ends after a log-out answers 401 without Set-Cookie', async () => {
    const context = await setup({ env: RATE_LIMITS, sim: { refreshDelayMs: 1000 } })
    const cookie = await login(context)
    context.sim.expireTokens('ejento')
    await sleep(5)
    const slow = context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })
    await waitFor(() => context.sim.requestsTo('auth', /refresh-access-token$/).length === 1, 5000)
    // Meanwhile the browser logs out and in again: it now holds a new cookie under the same name.
    await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })
    const newer = await login(context)

    const answer = await slow
    expect(answer.statusCode).toBe(401)
    expect(answer.headers['set-cookie']).toBeUndefined()
    expect(await isAuthenticated(context, newer)).toBe(true)
  })
})
