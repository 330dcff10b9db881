import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { DEMO, onCleanup, testConfig } from './helpers/app.js'
import { freePort } from './helpers/ports.js'
import { call, describeWithRedisServer, loginOver, startInstance, waitUntil } from './helpers/redis.js'
import type { Instance } from './helpers/redis.js'
import { directClient, sessionRecords, startRedisProcess, tempFolder } from './helpers/redis-process.js'
import type { RedisProcess } from './helpers/redis-process.js'
import { startTcpProxy } from './helpers/tcp-proxy.js'
import type { TcpProxy } from './helpers/tcp-proxy.js'

const PREFIX = 'replica-test:'
const CHAT_THREADS = '/api/agents/1/chat-threads'
const LAG_MS = 400
const SHORTFALL = 'not acknowledged by enough Redis replicas'

async function simulator (): Promise<Simulator> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  return sim
}

async function redisServer (name: string, extra: string[] = []): Promise<RedisProcess> {
  const port = await freePort()
  return await startRedisProcess({ args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], port, dir: await tempFolder(name) })
}

/** A primary, and a replica whose replication stream comes through a proxy the test can slow down or hold. */
async function primaryWithLaggingReplica (): Promise<{ primary: RedisProcess, replica: RedisProcess, link: TcpProxy }> {
  const primary = await redisServer('redis-primary')
  const link = await startTcpProxy(primary.port)
  const replica = await redisServer('redis-replica', ['--replicaof', '127.0.0.1', String(link.port)])
  const replicaClient = directClient({ port: replica.port })
  await waitUntil(async () => (await replicaClient.info('replication')).includes('master_link_status:up'), 10_000, 'the replica never synchronised')
  link.setDelay(LAG_MS)
  return { primary, replica, link }
}

/** Every session record on the primary, with the same record and version on the replica (read directly, now). */
async function replicaHoldsPrimarysRecords (primary: RedisProcess, replica: RedisProcess): Promise<{ primary: number, matching: number }> {
  const onPrimary = await sessionRecords(directClient({ port: primary.port }), PREFIX)
  const onReplica = await sessionRecords(directClient({ port: replica.port }), PREFIX)
  let matching = 0
  for (const [key, record] of onPrimary) {
    const copy = onReplica.get(key)
    if (copy?.d === record.d && copy.v === record.v) matching++
  }
  return { primary: onPrimary.size, matching }
}

async function timed<T> (action: () => Promise<T>): Promise<{ answer: T, ms: number }> {
  const started = Date.now()
  const answer = await action()
  return { answer, ms: Date.now() - started }
}

function linesWith (instance: Instance, text: string): string[] {
  return instance.logs.filter((line) => line.includes(text))
}

describeWithRedisServer('token saves wait for a replica (REDIS_WAIT_REPLICAS, Redis WAIT)', () => {
  it('with a replica lagging 400 ms, the log-in\'s and the refresh\'s tokens are on the replica when their answers arrive', async () => {
    const { primary, replica } = await primaryWithLaggingReplica()
    const sim = await simulator()
    const app = await startInstance(testConfig(sim, { REDIS_URL: `redis://127.0.0.1:${primary.port}`, REDIS_KEY_PREFIX: PREFIX, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT: '3s' }))

    const login = await timed(async () => await loginOver(app, DEMO))
    expect(await replicaHoldsPrimarysRecords(primary, replica)).toEqual({ primary: 1, matching: 1 })
    expect(login.ms).toBeGreaterThanOrEqual(LAG_MS - 50)

    const refresh = await timed(async () => await call(app, 'POST', '/auth/refresh', { cookie: login.answer }))
    expect(refresh.answer.status).toBeLessThan(300)
    expect(await replicaHoldsPrimarysRecords(primary, replica)).toEqual({ primary: 1, matching: 1 })
    expect([...(await sessionRecords(directClient({ port: replica.port }), PREFIX)).values()].map(({ v }) => v)).toEqual(['2'])
    expect(refresh.ms).toBeGreaterThanOrEqual(LAG_MS - 50)

    // A call that saves nothing does not wait.
    const read = await timed(async () => await call(app, 'POST', CHAT_THREADS, { cookie: login.answer }))
    expect(read.answer.status).toBe(201)
    expect(read.ms).toBeLessThan(LAG_MS)
    expect(linesWith(app, SHORTFALL)).toHaveLength(0)
  })

  it('control: without the wait (REDIS_WAIT_REPLICAS=0) the same answers arrive before the replica has the tokens', async () => {
    const { primary, replica } = await primaryWithLaggingReplica()
    const sim = await simulator()
    const app = await startInstance(testConfig(sim, { REDIS_URL: `redis://127.0.0.1:${primary.port}`, REDIS_KEY_PREFIX: PREFIX, REDIS_WAIT_REPLICAS: '0' }))
    const cookie = await loginOver(app, DEMO)
    expect(await replicaHoldsPrimarysRecords(primary, replica)).toEqual({ primary: 1, matching: 0 })
    await waitUntil(async () => (await replicaHoldsPrimarysRecords(primary, replica)).matching === 1, 5000, 'the replica never caught up')
    expect((await call(app, 'POST', '/auth/refresh', { cookie })).status).toBeLessThan(300)
    expect(await replicaHoldsPrimarysRecords(primary, replica)).toEqual({ primary: 1, matching: 0 })
  })

  it('no replica acknowledges in time: the save goes on after REDIS_WAIT_TIMEOUT (the call succeeds), one warning per shortfall, one line when acknowledgements are back', async () => {
    const { primary, replica, link } = await primaryWithLaggingReplica()
    link.setDelay(0)
    const sim = await simulator()
    const app = await startInstance(testConfig(sim, { REDIS_URL: `redis://127.0.0.1:${primary.port}`, REDIS_KEY_PREFIX: PREFIX, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT: '700ms' }))
    const cookie = await loginOver(app, DEMO)

    link.hold()
    for (let attempt = 0; attempt < 2; attempt++) {
      const refresh = await timed(async () => await call(app, 'POST', '/auth/refresh', { cookie }))
      expect(refresh.answer.status).toBeLessThan(300)
      expect(refresh.ms).toBeGreaterThanOrEqual(650)
      expect(refresh.ms).toBeLessThan(3000)
    }
    expect(linesWith(app, SHORTFALL)).toHaveLength(1)
    expect(JSON.parse(linesWith(app, SHORTFALL)[0] as string)).toMatchObject({ level: 40, wanted: 1, acknowledged: 0, timeoutMs: 700 })
    // The session works all along; the primary holds the tokens.
    expect((await call(app, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)

    link.release()
    await waitUntil(async () => (await replicaHoldsPrimarysRecords(primary, replica)).matching === 1, 5000, 'the replica never caught up')
    const refresh = await timed(async () => await call(app, 'POST', '/auth/refresh', { cookie }))
    expect(refresh.answer.status).toBeLessThan(300)
    expect(refresh.ms).toBeLessThan(650)
    expect(linesWith(app, 'Redis replicas acknowledge token saves again')).toHaveLength(1)
    expect(linesWith(app, SHORTFALL)).toHaveLength(1)
  })
})

describeWithRedisServer('a primary demoted behind the same address (a managed Redis\'s fail-over)', () => {
  it('writes meeting READONLY answer 503 store_unavailable and reconnect, reaching the new primary: they do not fail for ever', async () => {
    const old = await redisServer('redis-old-primary')
    const next = await redisServer('redis-next-primary', ['--replicaof', '127.0.0.1', String(old.port)])
    const nextClient = directClient({ port: next.port })
    await waitUntil(async () => (await nextClient.info('replication')).includes('master_link_status:up'), 10_000, 'the replica never synchronised')
    // The BFF reaches Redis through one address (the proxy), as through a managed service's DNS name.
    const address = await startTcpProxy(old.port)
    const sim = await simulator()
    const app = await startInstance(testConfig(sim, { REDIS_URL: `redis://127.0.0.1:${address.port}`, REDIS_KEY_PREFIX: PREFIX }))
    const before = await loginOver(app, DEMO)
    await waitUntil(async () => (await sessionRecords(nextClient, PREFIX)).size === 1, 5000, 'the session never reached the replica')

    // The fail-over: the replica is promoted, the old primary demoted (alive, its clients still
    // connected), and the address names the new primary from now on.
    await nextClient.call('REPLICAOF', 'NO', 'ONE')
    await directClient({ port: old.port }).call('REPLICAOF', '127.0.0.1', String(next.port))
    address.setTarget(next.port)

    const answers: Array<{ status: number, code: unknown, retryAfter: unknown }> = []
    let cookie: string | undefined
    for (let attempt = 0; attempt < 10 && cookie === undefined; attempt++) {
      const answer = await call(app, 'POST', '/auth/login', { json: DEMO })
      answers.push({ status: answer.status, code: answer.json?.code, retryAfter: answer.headers['retry-after'] })
      if (answer.status === 200) cookie = answer.cookie
      else await new Promise((resolve) => setTimeout(resolve, 200))
    }
    // READONLY was met (the connection stayed on the demoted server), answered 503 with
    // Retry-After, and the client moved: the log-in after it went through.
    expect(answers.at(-1)?.status).toBe(200)
    expect(answers.length).toBeGreaterThan(1)
    expect(answers.length).toBeLessThanOrEqual(3)
    for (const answer of answers.slice(0, -1)) expect(answer).toEqual({ status: 503, code: 'store_unavailable', retryAfter: '1' })
    expect(app.logs.some((line) => line.includes('READONLY'))).toBe(true)
    // The new primary serves both sessions, the one from before the fail-over too.
    for (const session of [before, cookie as string]) {
      expect((await call(app, 'POST', CHAT_THREADS, { cookie: session })).status).toBe(201)
      expect((await call(app, 'POST', '/auth/refresh', { cookie: session })).status).toBeLessThan(300)
    }
    expect((await sessionRecords(nextClient, PREFIX)).size).toBe(2)
  })
})
