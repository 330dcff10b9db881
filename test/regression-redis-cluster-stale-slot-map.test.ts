import { randomBytes } from 'node:crypto'
import pino from 'pino'
import { expect, it } from 'vitest'
import { closeRedis, createRedisClient } from '../src/redis.js'
import { keySlot, RedisSessionStore } from '../src/session/redis-store.js'
import { DEMO, onCleanup, sleep, testConfig } from './helpers/app.js'
import { call, cluster, describeOnRedisCluster, dumpKeys, loginOver, testPrefix, theRedisCluster, waitUntil } from './helpers/redis.js'
import type { RedisDeployment } from './helpers/redis.js'
import type { RedisCluster } from './helpers/redis-cluster.js'

/**
 * Bug: an instance that only answered readiness probes while a primary died kept, after the
 * replica took over, a slot map naming the dead primary. ioredis 5 reads the slots again only
 * when a command meets a MOVED (it no longer does every 5 s, as ioredis 4 did), and the probe
 * sends nothing to the lost slots: /readyz said 503 for ever, so a load balancer kept the
 * instance out and no request ever came to correct it (CI: "/readyz never answered 503 then
 * 200 after the kill", the sessions having been served by the other instance). It recovered
 * only when one of its own commands (a liveness key's renewal, a command in flight at the kill)
 * happened to meet the dead primary. Fix: the readiness check reads the slots again when it
 * fails, and the client reads them every 5 s. Found attacking that fix: a primary frozen (not
 * dead: its connection stays open) and replaced kept getting the session calls until the 5 s
 * timer; a failed store call now reads the slots again too (at most once a second).
 */

const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

/** Kills a primary (a shard's whole keys are lost to its replica) and waits until the replica took over and the cluster says ok. */
async function failOver (nodes: RedisCluster, port: number): Promise<void> {
  const node = nodes.nodes.find((candidate) => candidate.port === port)
  if (node === undefined) throw new Error(`no node on ${port}`)
  onCleanup(async () => { await node.restart(); await nodes.healthy() })
  await node.kill('SIGKILL')
  await waitUntil(async () => {
    const primaries = await nodes.primaries().catch(() => [])
    return primaries.length === 3 && primaries.every((primary) => primary.port !== port)
  }, 45_000, 'the replica never took over', 250)
  await waitUntil(async () => {
    const info = await nodes.direct((await nodes.primaries())[0]?.port as number).cluster('INFO').catch(() => '')
    return /^cluster_state:ok\r?$/m.test(info)
  }, 20_000, 'the cluster state never came back to ok', 250)
}

/** A session store on the BFF's own cluster client (src/redis.ts), with nothing else on that client. */
async function storeOnItsOwnClient (redis: RedisDeployment, prefix: string): Promise<RedisSessionStore> {
  const { redis: config } = testConfig({ authUrl: 'http://127.0.0.1:9', apiUrl: 'http://127.0.0.1:9' }, redis.env())
  if (config === undefined) throw new Error('no Redis configuration')
  const client = createRedisClient(config, pino({ level: 'silent' }))
  onCleanup(async () => { await closeRedis(client) })
  const store = new RedisSessionStore(client, { prefix, secrets: [randomBytes(32).toString('base64url')], ownerIndexTtlMs: 60_000 })
  await waitUntil(async () => await store.ping().then(() => true, () => false), 10_000, 'the store never became ready')
  return store
}

function reason (error: Error): string {
  return (error.cause as Error | undefined)?.message ?? error.message
}

describeOnRedisCluster('regression: a stale slot map after a fail-over', (redis) => {
  it('the readiness check alone, on a client that sent nothing during the fail-over, finds the promoted replica', { timeout: 90_000 }, async () => {
    const store = await storeOnItsOwnClient(redis, testPrefix())

    const nodes = theRedisCluster()
    await failOver(nodes, (await nodes.primaries())[0]?.port as number)
    // Nothing was sent on the client meanwhile: its slot map still names the dead primary. One
    // check may say so; it reads the slots again, and the next one passes.
    const checks: string[] = []
    await waitUntil(async () => {
      checks.push(await store.ping().then(() => 'ok', reason))
      return checks.at(-1) === 'ok'
    }, 3000, () => `the readiness check kept failing: ${checks.join('; ')}`, 200)
    expect(checks.length).toBeLessThanOrEqual(3)
  })

  it('a frozen primary replaced: a session call that met it reads the slots again, and the calls go to the promoted replica', { timeout: 90_000 }, async () => {
    const prefix = testPrefix()
    const store = await storeOnItsOwnClient(redis, prefix)
    const nodes = theRedisCluster()
    const [frozen, other] = await nodes.primaries()
    if (frozen === undefined || other === undefined) throw new Error('no primaries')
    const node = nodes.nodes.find(({ port }) => port === frozen.port)
    if (node === undefined) throw new Error('no node to freeze')
    let id = ''
    do {
      id = randomBytes(24).toString('base64url')
      await store.create(id, 'owner-1', 'record', 60_000)
    } while (!frozen.slots.some(([from, to]) => keySlot(redis.sessionKey(prefix, id)) >= from && keySlot(redis.sessionKey(prefix, id)) <= to))

    // Replicated before the freeze (this store waits for no replica): the session outlives it.
    const key = redis.sessionKey(prefix, id)
    const others = nodes.nodes.filter((candidate) => candidate !== node).map(({ port }) => nodes.direct(port))
    await Promise.all(others.map(async (other) => await other.readonly()))
    await waitUntil(async () => {
      // A replica of another shard answers MOVED.
      const found = await Promise.all(others.map(async (other) => await other.exists(key).catch(() => 0)))
      return found.includes(1)
    }, 5000, 'the session never reached the frozen primary\'s replica')
    onCleanup(async () => { await node.kill('SIGCONT'); await nodes.healthy(30_000) })
    await node.kill('SIGSTOP')
    // The promotion, read from another primary (the frozen one would not answer).
    await waitUntil(async () => {
      const slots = await nodes.direct(other.port).cluster('SLOTS').catch(() => []) as Array<[number, number, [string, number]]>
      return slots.length > 0 && slots.every(([, , [, port]]) => port !== frozen.port)
    }, 45_000, 'the replica never took over', 250)

    // The client's map still names the frozen primary (unless its 5 s timer ran meanwhile), whose
    // connection stays open: a call that meets it fails, and the slots are read again (which may
    // itself ask the frozen node first, and wait its 2 s), then the calls go to the promoted replica.
    const outcomes: string[] = []
    await waitUntil(async () => {
      outcomes.push(await store.get(id).then((session) => session === null ? 'gone' : 'ok', reason))
      await sleep(100)
      return outcomes.at(-1) === 'ok'
    }, 15_000, () => `the session was never served: ${outcomes.join('; ')}`, 0)
    expect(outcomes.length, outcomes.join('; ')).toBeLessThanOrEqual(3)
  })

  it('an instance nobody called during the fail-over is ready again by itself, and serves the sessions the dead primary held', { timeout: 90_000 }, async () => {
    const { a, b, prefix } = await cluster({ redis, env: LIMITS })
    expect((await call(a, 'GET', '/readyz')).status).toBe(200)

    // The victim: a primary that holds neither instance's liveness key (whose renewal, meeting
    // the dead primary, would read the slots again by chance), and some sessions.
    const nodes = theRedisCluster()
    let livenessSlots: number[] = []
    await waitUntil(async () => {
      livenessSlots = (await dumpKeys(redis, `${prefix}instance:*`)).map(({ key }) => keySlot(key))
      return livenessSlots.length === 2
    }, 5000, 'the two instances never wrote their liveness keys')
    const victim = (await nodes.primaries()).find(({ slots }) => !livenessSlots.some((slot) => slots.some(([from, to]) => slot >= from && slot <= to)))
    const node = nodes.nodes.find(({ port }) => port === victim?.port)
    if (node === undefined) throw new Error('no primary without a liveness key')
    const cookies: string[] = []
    const onVictim = async (): Promise<number> => (await dumpKeys(`redis://127.0.0.1:${node.port}`, `${prefix}session:*`)).length
    while (cookies.length < 60 && (cookies.length < 8 || await onVictim() < 2)) cookies.push(await loginOver(b, DEMO))
    expect(await onVictim()).toBeGreaterThanOrEqual(2)
    await failOver(nodes, node.port)

    // A probe every second, as a load balancer asks: ready again within a few of them.
    const probes: number[] = []
    await waitUntil(async () => {
      probes.push((await call(a, 'GET', '/readyz')).status)
      return probes.at(-1) === 200
    }, 12_000, () => `/readyz on the instance nobody called stayed 503: ${a.logs.filter((line) => line.includes('not ready')).slice(-1).join('')}`, 1000)
    expect(probes.length).toBeLessThanOrEqual(7)
    // Every session, those in the dead primary's slots too, works on it.
    for (const cookie of cookies) expect((await call(a, 'POST', '/api/agents/1/chat-threads', { cookie })).status).toBe(201)
  })
})
