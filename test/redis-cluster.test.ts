import { randomBytes } from 'node:crypto'
import type { Cluster } from 'ioredis'
import { expect, it } from 'vitest'
import { RedisSessionStore } from '../src/session/redis-store.js'
import { DEMO, onCleanup, sleep } from './helpers/app.js'
import { call, cluster, describeOnRedisCluster, dumpKeys, loginOver, theRedisCluster, testPrefix, waitUntil } from './helpers/redis.js'
import type { RedisDeployment } from './helpers/redis.js'

/**
 * What only a Redis Cluster has: a session's keys and its owner's index in different slots, on
 * different primaries. The rest of the Redis test set runs on a cluster too (describeOnRedis).
 */

const HOUR = 3_600_000
const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

function newId (): string {
  return randomBytes(24).toString('base64url')
}

function storeOn (redis: RedisDeployment, prefix: string, client = redis.client()): RedisSessionStore {
  return new RedisSessionStore(client, { prefix, secrets: ['cluster-test-secret-0123456789-0123456789'], ownerIndexTtlMs: HOUR })
}

/** How many session hashes (live ones: holding a record) each primary holds under the prefix. */
async function sessionsPerPrimary (redis: RedisDeployment, prefix: string): Promise<number[]> {
  return await Promise.all((await redis.primaries()).map(async (primary) => {
    const hashes = await dumpKeys(primary, `${prefix}session:*`)
    return hashes.filter(({ value }) => value.includes('"d":')).length
  }))
}

async function liveSessions (redis: RedisDeployment, prefix: string): Promise<number> {
  return (await sessionsPerPrimary(redis, prefix)).reduce((sum, count) => sum + count, 0)
}

describeOnRedisCluster('sessions on a Redis Cluster', (redis) => {
  it('spread over all three primaries; a session and its successor record share a slot, its owner index lives elsewhere', async () => {
    const prefix = testPrefix()
    const client = redis.client() as Cluster
    const store = storeOn(redis, prefix, client)
    const ids = Array.from({ length: 60 }, newId)
    await Promise.all(ids.map(async (id) => await store.create(id, 'owner-1', `record-${id}`, 60_000)))

    const perPrimary = await sessionsPerPrimary(redis, prefix)
    expect(perPrimary).toHaveLength(3)
    for (const count of perPrimary) expect(count, `sessions per primary: ${perPrimary.join(', ')}`).toBeGreaterThan(0)
    // A log-in with the first session's cookie moves it: its successor record is in its slot.
    const [first] = ids as [string]
    expect(await store.replace(first, newId(), 'owner-1', 'next', 60_000, 60_000)).toEqual({ created: 1 })
    const slot = async (key: string): Promise<number> => await client.cluster('KEYSLOT', key)
    expect(await slot(`${prefix}successor:{${first}}`)).toBe(await slot(`${prefix}session:{${first}}`))
    const [index] = (await dumpKeys(redis, `${prefix}owner-sessions:*`)).map(({ key }) => key)
    const indexSlot = await slot(index as string)
    const sessionSlots = await Promise.all(ids.map(async (id) => await slot(redis.sessionKey(prefix, id))))
    expect(sessionSlots.filter((sessionSlot) => sessionSlot !== indexSlot).length).toBeGreaterThan(55)

    // Every one of them, on whichever primary, is listed and ended by one log-out everywhere.
    expect(await store.listOwner('owner-1')).toHaveLength(60)
    expect(await store.destroyOwner('owner-1')).toBe(60)
    expect(await liveSessions(redis, prefix)).toBe(0)
    expect(await dumpKeys(redis, `${prefix}owner-sessions:*`)).toEqual([])
  })

  it('renewals racing log-out everywhere: whichever wins, no session of the owner survives (20 rounds of 8)', async () => {
    const prefix = testPrefix()
    const store = storeOn(redis, prefix)
    let renewed = 0
    for (let round = 0; round < 20; round++) {
      const ids = Array.from({ length: 8 }, newId)
      await Promise.all(ids.map(async (id) => await store.create(id, 'owner-1', 'v1', 60_000)))
      // Each renewal starts a little before or after the log-out everywhere, so that every order of their steps comes up.
      const renewals = ids.map(async (id, position) => {
        await sleep(position % 4)
        return await store.renew(id, 1, newId(), 'owner-1', 'renewed', 60_000, 60_000)
      })
      await sleep(round % 3)
      await store.destroyOwner('owner-1')
      renewed += (await Promise.all(renewals)).filter((outcome) => outcome !== null).length
      expect(await liveSessions(redis, prefix), `round ${round}`).toBe(0)
    }
    // The race was real: some renewals moved their session before the log-out reached it.
    expect(renewed).toBeGreaterThan(0)
  })

  it('log-ins racing log-out everywhere: a session that survives is indexed, so the next log-out everywhere ends it', async () => {
    const prefix = testPrefix()
    const store = storeOn(redis, prefix)
    for (let round = 0; round < 10; round++) {
      const ids = Array.from({ length: 8 }, newId)
      const logins = ids.map(async (id, position) => {
        await sleep(position % 4)
        await store.create(id, 'owner-1', 'v1', 60_000)
      })
      await sleep(round % 3)
      await store.destroyOwner('owner-1')
      await Promise.all(logins)
      const listed = (await store.listOwner('owner-1')).map(({ id }) => id).sort()
      const alive = (await Promise.all(ids.map(async (id) => await store.get(id) === null ? undefined : id))).filter((id) => id !== undefined).sort()
      expect(listed, `round ${round}`).toEqual(alive)
      await store.destroyOwner('owner-1')
      expect(await liveSessions(redis, prefix)).toBe(0)
    }
  })

  it('refreshes racing log-out everywhere never write an ended session back', async () => {
    const prefix = testPrefix()
    const store = storeOn(redis, prefix)
    for (let round = 0; round < 10; round++) {
      const ids = Array.from({ length: 8 }, newId)
      await Promise.all(ids.map(async (id) => await store.create(id, 'owner-1', 'v1', 60_000)))
      const refreshes = ids.map(async (id, position) => {
        await sleep(position % 4)
        return await store.update(id, 1, 'fresh tokens', 60_000)
      })
      await sleep(round % 3)
      await store.destroyOwner('owner-1')
      await Promise.all(refreshes)
      expect(await liveSessions(redis, prefix), `round ${round}`).toBe(0)
      for (const id of ids) expect(await store.update(id, 2, 'late', 60_000)).toBeNull()
    }
  })

  it('a key prefix that opens a hash tag it does not close is refused; a closed one keeps every key in one slot, and works', async () => {
    expect(() => storeOn(redis, 'ejento{bff:')).toThrow(/REDIS_KEY_PREFIX "ejento\{bff:" opens a hash tag/)
    const prefix = `{${randomBytes(4).toString('hex')}}:`
    const store = storeOn(redis, prefix)
    const ids = Array.from({ length: 6 }, newId)
    for (const id of ids) await store.create(id, 'owner-1', 'v1', 60_000)
    expect(await store.renew(ids[0] as string, 1, newId(), 'owner-1', 'v2', 60_000, 60_000)).toBe(1)
    expect((await sessionsPerPrimary(redis, prefix)).filter((count) => count > 0)).toEqual([6])
    expect(await store.destroyOwner('owner-1')).toBe(6)
  })
})

describeOnRedisCluster('BFF instances on a Redis Cluster', (redis) => {
  it('one user\'s 24 sessions, logged in on two instances, land on all three primaries, work on both, and one log-out everywhere ends them all', async () => {
    const { a, b, prefix } = await cluster({ redis, env: LIMITS })
    const cookies: string[] = []
    for (let index = 0; index < 24; index++) cookies.push(await loginOver(index % 2 === 0 ? a : b, DEMO))
    const perPrimary = await sessionsPerPrimary(redis, prefix)
    for (const count of perPrimary) expect(count, `sessions per primary: ${perPrimary.join(', ')}`).toBeGreaterThan(0)
    for (const [index, cookie] of cookies.entries()) {
      expect((await call(index % 2 === 0 ? b : a, 'POST', '/api/agents/1/chat-threads', { cookie })).status).toBe(201)
    }
    const listed = await call(a, 'GET', '/auth/sessions', { cookie: cookies[0] as string })
    expect(listed.json.sessions).toHaveLength(24)

    expect((await call(b, 'POST', '/auth/logout?scope=all', { cookie: cookies[5] as string })).status).toBe(204)
    for (const cookie of cookies) expect((await call(a, 'GET', '/auth/session', { cookie })).json).toEqual({ authenticated: false })
    expect(await liveSessions(redis, prefix)).toBe(0)
  })

  it('a primary killed: not ready (its sessions 503, the others served) until its replica took over, then ready by itself with every session', { timeout: 60_000 }, async () => {
    const { a, b, prefix } = await cluster({ redis, env: { ...LIMITS, REDIS_WAIT_REPLICAS: '1' } })
    const cookies: string[] = []
    for (let index = 0; index < 12; index++) cookies.push(await loginOver(index % 2 === 0 ? a : b, DEMO))
    expect((await call(a, 'GET', '/readyz')).status).toBe(200)
    // Each token save waited for its primary's replica (WAIT on the node that holds the key), and got it.
    expect([...a.logs, ...b.logs].filter((line) => line.includes('not acknowledged by enough Redis replicas'))).toEqual([])

    const nodes = theRedisCluster()
    const [victim] = await nodes.primaries()
    const node = nodes.nodes.find(({ port }) => port === victim?.port)
    if (node === undefined) throw new Error('no primary to kill')
    const onVictim = new Set((await dumpKeys(`redis://127.0.0.1:${node.port}`, `${prefix}session:*`)).map(({ key }) => key))
    // Later tests in this file get all six nodes back (the killed one as a replica).
    onCleanup(async () => { await node.restart(); await nodes.healthy() })
    await node.kill('SIGKILL')

    // Readiness, asked every 50 ms from the kill on, while the sessions are called (on the other
    // instance: `a` gets nothing else, and must find the promoted replica by itself).
    const readiness: number[] = []
    const notReady = (): string => a.logs.filter((line) => line.includes('not ready')).slice(-1).join('')
    const readyAgain = waitUntil(async () => {
      readiness.push((await call(a, 'GET', '/readyz')).status)
      return readiness.includes(503) && readiness.at(-1) === 200
    }, 30_000, () => `/readyz never answered 503 then 200 after the kill (${readiness.length} probes; the last reason: ${notReady()})`)
    const statuses = new Set<number>()
    let served = 0
    const sessionsAgain = waitUntil(async () => {
      for (const cookie of cookies) {
        const id = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).split('.')[0] as string
        const answer = await call(b, 'POST', '/api/agents/1/chat-threads', { cookie })
        statuses.add(answer.status)
        if (answer.status === 503) expect(answer.json).toMatchObject({ code: 'store_unavailable' })
        else if (!onVictim.has(redis.sessionKey(prefix, id))) served++
      }
      return readiness.at(-1) === 200 && readiness.includes(503)
    }, 30_000, 'the sessions were never all served again')
    // Both waits at once: whichever fails first is the test's failure, the other's is not left unhandled.
    await Promise.all([readyAgain, sessionsAgain])
    expect([...statuses].sort(), 'only successes and 503').toEqual(statuses.size === 1 ? [201] : [201, 503])
    expect(new Set(readiness)).toEqual(new Set([200, 503]))
    expect(served).toBeGreaterThan(0)
    // Every session, those the killed primary held too, works on both instances.
    for (const cookie of cookies) {
      for (const instance of [a, b]) expect((await call(instance, 'POST', '/api/agents/1/chat-threads', { cookie })).status).toBe(201)
    }
  })
})
