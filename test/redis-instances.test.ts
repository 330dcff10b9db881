import { expect, it } from 'vitest'
import { ADMIN, DEMO, sleep } from './helpers/app.js'
import { call, cluster, describeOnRedis, dumpKeys, loginOver, testPrefix, waitUntil } from './helpers/redis.js'
import type { Instance } from './helpers/redis.js'

const CHAT_THREADS = '/api/agents/1/chat-threads'

describeOnRedis('several BFF instances sharing one Redis', (redis) => {
  it('a session made on instance A works on instance B (session and API call)', async () => {
    const { a, b, sim } = await cluster({ redis })
    const cookie = await loginOver(a, DEMO)

    const session = await call(b, 'GET', '/auth/session', { cookie })
    expect(session.status).toBe(200)
    expect(session.json).toMatchObject({ authenticated: true, user: { email: DEMO.email } })

    const thread = await call(b, 'POST', CHAT_THREADS, { cookie })
    expect(thread.status).toBe(201)
    expect(thread.json).toMatchObject({ success: true, data: { id: expect.anything() } })
    expect(sim.counter('chat_thread')).toBe(1)
    expect(sim.counter('login')).toBe(1)
  })

  it('40 concurrent requests over A and B on an expired Ejento token: 40 successes and exactly 1 upstream refresh (strict rotation)', async () => {
    const { a, b, sim } = await cluster({ redis, sim: { strictRotation: true, refreshDelayMs: 100 } })
    const cookie = await loginOver(a, DEMO)
    sim.expireTokens('ejento')

    const answers = await Promise.all(Array.from({ length: 40 }, async (_, index) =>
      await call(index % 2 === 0 ? a : b, 'POST', CHAT_THREADS, { cookie })))

    expect(answers.map((answer) => answer.status)).toEqual(Array(40).fill(201))
    expect(sim.counter('refresh')).toBe(1)
    expect(sim.counter('refresh_refused')).toBe(0)
    expect(sim.counter('chat_thread')).toBe(40)
    // One instance refreshed; the other waited on the shared lock and reused the stored tokens.
    const outcomes = (instance: Instance, outcome: string): number => instance.logs.filter((line) => line.includes(`"refresh":"${outcome}"`)).length
    expect(outcomes(a, 'refreshed') + outcomes(b, 'refreshed')).toBe(1)
    const refresher = outcomes(a, 'refreshed') === 1 ? a : b
    const other = refresher === a ? b : a
    expect(outcomes(other, 'refreshed')).toBe(0)
    expect(outcomes(other, 'reused')).toBeGreaterThanOrEqual(1)
    expect(outcomes(a, 'refused') + outcomes(b, 'refused') + outcomes(a, 'failed') + outcomes(b, 'failed')).toBe(0)
    // The session still works on both afterwards, with no further refresh.
    expect((await call(a, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    expect((await call(b, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    expect(sim.counter('refresh')).toBe(1)
  })

  it('regression: a refresh slower than REFRESH_LOCK_TTL is not repeated by another instance (strict rotation would end the session)', async () => {
    const { a, b, sim } = await cluster({ redis, sim: { strictRotation: true, refreshDelayMs: 3000 }, env: { REFRESH_LOCK_TTL: '1s' } })
    const cookie = await loginOver(a, DEMO)
    sim.expireTokens('ejento')
    await sleep(5)

    const first = call(a, 'POST', CHAT_THREADS, { cookie })
    await waitUntil(() => sim.counter('refresh') === 1, 5000, 'A never started its refresh')
    const others = await Promise.all(Array.from({ length: 6 }, async () => await call(b, 'POST', CHAT_THREADS, { cookie })))

    expect((await first).status).toBe(201)
    expect(others.map((answer) => answer.status)).toEqual(Array(6).fill(201))
    expect(sim.counter('refresh')).toBe(1)
    expect(sim.counter('refresh_refused')).toBe(0)
  })

  it('an instance restart keeps sessions: a new instance on the same prefix accepts the old cookie', async () => {
    const { a, another } = await cluster({ redis })
    const cookie = await loginOver(a, DEMO)
    expect((await call(a, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)

    await a.close()
    const restarted = await another()
    const session = await call(restarted, 'GET', '/auth/session', { cookie })
    expect(session.json).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    expect((await call(restarted, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
  })

  it('a log-out on A refuses the cookie on B at once', async () => {
    const { a, b } = await cluster({ redis })
    const cookie = await loginOver(a, DEMO)
    expect((await call(b, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)

    const logout = await call(a, 'POST', '/auth/logout', { cookie })
    expect(logout.status).toBe(204)

    const after = await call(b, 'POST', CHAT_THREADS, { cookie })
    expect(after.status).toBe(401)
    expect(after.json).toMatchObject({ code: 'not_authenticated' })
    expect((await call(b, 'GET', '/auth/session', { cookie })).json).toEqual({ authenticated: false })
  })

  it('"log out everywhere" on A ends the user\'s sessions made on A and on B, not another user\'s', async () => {
    const { a, b } = await cluster({ redis })
    const onA = await loginOver(a, DEMO)
    const onB = await loginOver(b, DEMO)
    const admin = await loginOver(b, ADMIN)
    for (const cookie of [onA, onB, admin]) {
      expect((await call(a, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    }

    const logout = await call(a, 'POST', '/auth/logout?scope=all', { cookie: onA })
    expect(logout.status).toBe(204)

    for (const [name, cookie] of [['made on A', onA], ['made on B', onB]] as const) {
      for (const instance of [a, b]) {
        const answer = await call(instance, 'POST', CHAT_THREADS, { cookie })
        expect(answer.status, `${name}, called on ${instance.url}`).toBe(401)
        expect(answer.json).toMatchObject({ code: 'not_authenticated' })
      }
    }
    for (const instance of [a, b]) {
      expect((await call(instance, 'POST', CHAT_THREADS, { cookie: admin })).status).toBe(201)
      expect((await call(instance, 'GET', '/auth/session', { cookie: admin })).json).toMatchObject({ authenticated: true, user: { email: ADMIN.email } })
    }
  })

  it('rate limits are shared: 2 failed log-ins on A and 2 on B, the 4th is 429', async () => {
    const prefix = testPrefix()
    const { a, b, sim } = await cluster({ redis, env: { AUTH_RATE_LIMIT_PER_IP: '3', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000', AUTH_RATE_LIMIT_WINDOW: '1m', REDIS_KEY_PREFIX: prefix } })
    const wrong = { email: DEMO.email, password: 'not-the-password' }
    const statuses: number[] = []
    for (const instance of [a, a, b, b]) {
      statuses.push((await call(instance, 'POST', '/auth/login', { json: wrong })).status)
    }
    expect(statuses).toEqual([401, 401, 401, 429])

    const limited = await call(a, 'POST', '/auth/login', { json: DEMO })
    expect(limited.status).toBe(429)
    expect(limited.json).toMatchObject({ code: 'rate_limited' })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    // The limited attempts never reached upstream.
    expect(sim.counter('login_failed')).toBe(3)
    expect(sim.counter('login')).toBe(0)

    // Regression: the counters were named `<prefix>rate-limit:undefinedundefined-ip:...`.
    const client = redis.client()
    const keys = (await dumpKeys(redis, `${prefix}rate-limit:*`)).map(({ key }) => key).sort()
    expect(keys).toHaveLength(2)
    expect(keys[0]).toMatch(new RegExp(`^${prefix}rate-limit:account:[A-Za-z0-9_-]{22}$`))
    expect(keys[1]).toBe(`${prefix}rate-limit:ip:127.0.0.1`)
    expect(await client.get(keys[1] as string)).toBe('5')
    // Each counter expires with its window.
    for (const key of keys) {
      const ttl = await client.pttl(key)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(60_000)
    }
  })
})
