import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../src/simulator/index.js'
import { DEMO, onCleanup, testConfig } from './helpers/app.js'
import { call, describeOnRedis, loginOver, startInstance, waitUntil } from './helpers/redis.js'
import type { CallAnswer, Instance } from './helpers/redis.js'

const CHAT_THREADS = '/api/agents/1/chat-threads'
/** Each test starts a deployment of its own (a cluster is six processes, a Sentinel set five) and waits out an outage. */
const OUTAGE_TEST_TIMEOUT = 60_000
const UNREACHABLE = 'Redis is unreachable'

async function simulator (options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(options)
  onCleanup(sim.close)
  return sim
}

function expectStoreUnavailable (answer: CallAnswer, what: string): void {
  expect(answer.status, `${what}: ${answer.text}`).toBe(503)
  expect(answer.headers['content-type']).toContain('application/problem+json')
  expect(answer.json).toMatchObject({ status: 503, code: 'store_unavailable' })
}

async function readyStatus (instance: Instance): Promise<number> {
  return (await call(instance, 'GET', '/readyz')).status
}

function linesWith (instance: Instance, text: string): string[] {
  return instance.logs.filter((line) => line.includes(text))
}

/**
 * Each test takes a deployment of its own away (every process killed at once, append-only
 * files synced on each write): one primary, a Redis Cluster, a Sentinel set (primary, replica
 * and sentinels: with only the primary away the sentinels would promote the replica, which
 * redis-sentinel.test.ts covers), a TLS-only Redis with a password.
 */
describeOnRedis('a Redis outage', (deployment) => {
  const startRedis = deployment.startOwn

  it('answers 503 store_unavailable while Redis is down (never 500 or 401), stays alive, and recovers by itself', async () => {
    const redis = await startRedis()
    const sim = await simulator()
    const app = await startInstance(testConfig(sim, redis.env))
    const cookie = await loginOver(app, DEMO)
    expect((await call(app, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)

    await redis.stop()
    await waitUntil(async () => await readyStatus(app) === 503, 10_000, '/readyz never answered 503 after Redis stopped')
    const notReady = await call(app, 'GET', '/readyz')
    expect(notReady.json).toMatchObject({ status: 503 })

    for (let attempt = 1; attempt <= 3; attempt++) {
      expectStoreUnavailable(await call(app, 'POST', CHAT_THREADS, { cookie }), `API call ${attempt}`)
    }
    // Not a log-out: the session endpoint does not claim the user is logged out either.
    expectStoreUnavailable(await call(app, 'GET', '/auth/session', { cookie }), 'GET /auth/session')
    expectStoreUnavailable(await call(app, 'POST', '/auth/login', { json: DEMO }), 'log-in')
    for (const [method, path] of [['POST', '/auth/refresh'], ['GET', '/api/users'], ['GET', '/proxy/ejento/api/agent/1'], ['POST', '/auth/logout'], ['POST', '/auth/logout?scope=all']] as const) {
      expectStoreUnavailable(await call(app, method, path, { cookie }), `${method} ${path}`)
    }
    // The process is alive; the upstream never saw a call it could not have answered for.
    expect((await call(app, 'GET', '/healthz')).status).toBe(200)
    expect(sim.counter('chat_thread')).toBe(1)
    expect(sim.counter('login')).toBe(1)
    // The outage is logged once, when the first reconnection attempt fails.
    await waitUntil(() => linesWith(app, UNREACHABLE).length > 0, 10_000, `no "${UNREACHABLE}" log line`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(linesWith(app, UNREACHABLE)).toHaveLength(1)

    await redis.start()
    await waitUntil(async () => await readyStatus(app) === 200, 10_000, '/readyz never answered 200 after Redis came back')
    // Nothing was lost: the session from before the outage works again, with no new log-in.
    expect((await call(app, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    expect((await call(app, 'GET', '/auth/session', { cookie })).json).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    expect(sim.counter('login')).toBe(1)
    expect(sim.counter('chat_thread')).toBe(2)
    // Operators see the outage in the metrics too.
    const metrics = await call(app, 'GET', '/metrics')
    const storeErrors = Number(/^ejento_bff_session_store_errors_total (\d+)/m.exec(metrics.text)?.[1])
    expect(storeErrors).toBeGreaterThanOrEqual(9)
    // One line when the outage started, one when it ended.
    expect(linesWith(app, UNREACHABLE)).toHaveLength(1)
    expect(linesWith(app, 'Redis connection ready').length).toBeGreaterThanOrEqual(2)
    expect(app.logs.some((line) => line.includes('"statusCode":500'))).toBe(false)
  }, OUTAGE_TEST_TIMEOUT)

  it('regression: Redis away while a refresh is under way and back within seconds: the fresh tokens are saved, not lost (strict rotation would end the session)', async () => {
    const redis = await startRedis()
    const sim = await simulator({ strictRotation: true, refreshDelayMs: 1500 })
    const app = await startInstance(testConfig(sim, redis.env))
    const cookie = await loginOver(app, DEMO)
    sim.expireTokens('ejento')
    await new Promise((resolve) => setTimeout(resolve, 5))

    const during = call(app, 'POST', CHAT_THREADS, { cookie })
    await waitUntil(() => sim.counter('refresh') === 1, 5000, 'the refresh never started')
    await redis.stop() // the refresh answers (1.5 s after it started) while Redis is away
    await new Promise((resolve) => setTimeout(resolve, 2200))
    await redis.start()

    // The call went on with the fresh tokens while the store could not take them.
    const answer = await during
    expect(answer.status, answer.text).toBe(201)
    await waitUntil(() => linesWith(app, 'fresh tokens saved late').length === 1, 10_000, 'the kept tokens were never saved')
    expect((await call(app, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    expect(sim.counter('refresh')).toBe(1)
    expect(sim.counter('refresh_refused')).toBe(0)
    // The save did meet the outage, and got through on a retry; the log says what happened.
    expect(linesWith(app, 'fresh tokens not saved yet')).toHaveLength(1)
    expect(linesWith(app, '"refresh":"refreshed"')).toHaveLength(1)
    expect(linesWith(app, '"refresh":"failed"')).toHaveLength(0)
  }, OUTAGE_TEST_TIMEOUT)

  it('an app started while its Redis is down starts, says so in one clear line, and becomes ready when Redis starts', async () => {
    const redis = await startRedis()
    await redis.stop()
    const sim = await simulator()
    const app = await startInstance(testConfig(sim, redis.env), { waitReady: false })

    await waitUntil(() => linesWith(app, UNREACHABLE).length > 0, 10_000, `no "${UNREACHABLE}" log line`)
    expect((await call(app, 'GET', '/healthz')).status).toBe(200)
    expect(await readyStatus(app)).toBe(503)
    expectStoreUnavailable(await call(app, 'POST', '/auth/login', { json: DEMO }), 'log-in')
    expect(sim.counter('login')).toBe(0)

    // However long the outage, the app says it once, as an error naming the (password-free) URL.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const unreachable = linesWith(app, UNREACHABLE)
    expect(unreachable).toHaveLength(1)
    const line = JSON.parse(unreachable[0] as string) as { level: number, redis?: string }
    expect(line.level).toBe(50)
    expect(line.redis).toContain(`127.0.0.1:${redis.port}`)

    await redis.start()
    await waitUntil(async () => await readyStatus(app) === 200, 15_000, '/readyz never answered 200 after Redis started')
    const cookie = await loginOver(app, DEMO)
    expect((await call(app, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    expect(linesWith(app, UNREACHABLE)).toHaveLength(1)
    expect(linesWith(app, 'Redis connection ready')).toHaveLength(1)
  }, OUTAGE_TEST_TIMEOUT)
}, { own: true })
