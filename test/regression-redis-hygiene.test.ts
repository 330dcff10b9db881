import { createHash, randomBytes } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { expect, it } from 'vitest'
import { RedisSessionStore } from '../src/session/redis-store.js'
import { DEMO } from './helpers/app.js'
import { call, cluster, describeOnRedis, dumpKeys, loginOver, testPrefix, waitUntil } from './helpers/redis.js'
import type { RedisDeployment } from './helpers/redis.js'

const HOUR = 3_600_000

function newStore (prefix: string, redis: Redis | Cluster, secrets = [randomBytes(32).toString('base64url')]): RedisSessionStore {
  return new RedisSessionStore(redis, { prefix, secrets, ownerIndexTtlMs: HOUR })
}

function newId (): string {
  return randomBytes(24).toString('base64url')
}

/** How many session ids the owner indexes under a prefix hold, whatever their Redis type. */
async function indexedIds (redis: RedisDeployment, prefix: string): Promise<number> {
  const client = redis.client()
  let count = 0
  for (const { key } of await dumpKeys(redis, `${prefix}owner*`)) {
    const type = await client.type(key)
    count += type === 'zset' ? await client.zcard(key) : type === 'set' ? await client.scard(key) : 0
  }
  return count
}

/** What an unsalted hash of a value looks like in a key (the names these keys had before). */
function plainHash (value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22)
}

describeOnRedis('regression: the owner index of log-out everywhere stays bounded', (redis) => {
  it('ids of sessions that ended are dropped at the next log-in: 5 rounds of 40 short sessions leave the index at the live ones', async () => {
    const prefix = testPrefix()
    const client = redis.client()
    const store = newStore(prefix, client)
    const live = [newId()]
    await store.create(live[0] as string, 'owner-1', 'live', 60_000)
    for (let round = 1; round <= 5; round++) {
      await Promise.all(Array.from({ length: 40 }, async () => { await store.create(newId(), 'owner-1', 'short', 200) }))
      await waitUntil(async () => (await dumpKeys(redis, `${prefix}session:*`)).length === round, 10_000, 'the short sessions never expired')
      const next = newId()
      live.push(next)
      await store.create(next, 'owner-1', 'live', 60_000)
      // Only the live sessions are left: without pruning it would be 41 more every round.
      expect(await indexedIds(redis, prefix), `round ${round}`).toBe(live.length)
    }

    // Log out everywhere still ends every live session, and leaves nothing behind.
    expect(await store.destroyOwner('owner-1')).toBe(live.length)
    for (const id of live) expect(await store.get(id)).toBeNull()
    expect(await dumpKeys(redis, `${prefix}*`)).toEqual([])
  })

  it('a session kept alive by touch or update stays in the index after its first expiry, so log-out everywhere still ends it', async () => {
    const prefix = testPrefix()
    const client = redis.client()
    const store = newStore(prefix, client)
    const [touched, updated, ended] = [newId(), newId(), newId()]
    await store.create(touched, 'owner-1', 'a', 500)
    await store.create(updated, 'owner-1', 'b', 500)
    await store.create(ended, 'owner-1', 'c', 500)
    expect(await store.touch(touched, 60_000)).toBe(true)
    expect(await store.update(updated, 1, 'b2', 60_000)).toBe(2)
    await waitUntil(async () => await store.get(ended) === null, 10_000, 'the untouched session never expired')
    // A log-in prunes: the two sessions still alive must survive it in the index.
    await store.create(newId(), 'owner-2', 'other', 60_000)
    await store.create(newId(), 'owner-1', 'd', 60_000)
    expect(await indexedIds(redis, prefix)).toBe(4)
    expect(await store.destroyOwner('owner-1')).toBe(3)
    expect(await store.get(touched)).toBeNull()
    expect(await store.get(updated)).toBeNull()
  })

  it('a log-out removes its id from the index, and touch or update never add it back', async () => {
    const prefix = testPrefix()
    const client = redis.client()
    const store = newStore(prefix, client)
    const [kept, gone] = [newId(), newId()]
    await store.create(kept, 'owner-1', 'a', 60_000)
    await store.create(gone, 'owner-1', 'b', 60_000)
    await store.destroy(gone)
    expect(await store.touch(gone, 60_000)).toBe(false)
    expect(await store.update(gone, 1, 'revived', 60_000)).toBeNull()
    expect(await indexedIds(redis, prefix)).toBe(1)
    expect(await store.destroyOwner('owner-1')).toBe(1)
  })

  it('log-out everywhere also ends the sessions an earlier version indexed in a set under a plain hash', async () => {
    const prefix = testPrefix()
    const client = redis.client()
    const store = newStore(prefix, client)
    const [earlier, current] = [newId(), newId()]
    // What the previous version wrote at a log-in.
    await client.hset(redis.sessionKey(prefix, earlier), 'd', 'x', 'v', 1, 'e', Date.now() + 60_000, 'o', plainHash('owner-1'))
    await client.pexpire(redis.sessionKey(prefix, earlier), 60_000)
    await client.sadd(`${prefix}owner:${plainHash('owner-1')}`, earlier)
    await store.create(current, 'owner-1', 'y', 60_000)
    // A touch still works on such a session, and adds nothing to any index.
    expect(await store.touch(earlier, 60_000)).toBe(true)
    expect(await store.destroyOwner('owner-1')).toBe(2)
    expect(await dumpKeys(redis, `${prefix}*`)).toEqual([])
  })

  it('through the app: 12 log-ins whose sessions idle out, then 2 live ones; the index holds 2 and log-out everywhere ends both', async () => {
    // Sessions end by idling long before the index itself would expire (SESSION_MAX_AGE after the latest log-in).
    const env = { SESSION_IDLE_TIMEOUT: '3s', SESSION_MAX_AGE: '1h', AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }
    const { a, b, prefix } = await cluster({ redis, env })
    for (let index = 0; index < 12; index++) await loginOver(index % 2 === 0 ? a : b, DEMO)
    await waitUntil(async () => (await dumpKeys(redis, `${prefix}session:*`)).length === 0, 15_000, 'the short sessions never expired')

    const first = await loginOver(a, DEMO)
    const second = await loginOver(b, DEMO)
    expect(await indexedIds(redis, prefix)).toBe(2)
    expect((await call(b, 'GET', '/auth/session', { cookie: second })).json).toMatchObject({ authenticated: true })
    expect((await call(a, 'POST', '/auth/logout?scope=all', { cookie: first })).status).toBe(204)
    expect((await call(a, 'GET', '/auth/session', { cookie: second })).json).toEqual({ authenticated: false })
    expect(await dumpKeys(redis, `${prefix}session:*`)).toEqual([])
  })
})

describeOnRedis('regression: Redis key names do not let a reader test candidate emails or user ids', (redis) => {
  it('account counters and owner indexes are named by an HMAC under the secret: not a plain hash, different under another secret', async () => {
    const email = 'someone-unknown@example.com'
    const names: Array<{ account: string[], owner: string[] }> = []
    for (let deployment = 0; deployment < 2; deployment++) {
      const { a, b, prefix } = await cluster({ redis, env: { AUTH_RATE_LIMIT_PER_ACCOUNT: '3', AUTH_RATE_LIMIT_PER_IP: '1000' } })
      // The per-account limit still holds across instances.
      for (const instance of [a, b, a]) expect((await call(instance, 'POST', '/auth/login', { json: { email, password: 'wrong-password' } })).status).toBe(401)
      expect((await call(b, 'POST', '/auth/login', { json: { email, password: 'wrong-password' } })).status).toBe(429)
      const cookie = await loginOver(a, DEMO)
      const userId = String((await call(b, 'GET', '/auth/session', { cookie })).json.user.id)

      const keys = (await dumpKeys(redis, `${prefix}*`)).map((entry) => entry.key)
      const account = keys.filter((key) => key.startsWith(`${prefix}rate-limit:account:`))
      const owner = keys.filter((key) => key.startsWith(`${prefix}owner`))
      expect(account).toHaveLength(2)
      expect(owner).toHaveLength(1)
      for (const key of [...account, ...owner]) {
        for (const candidate of [email, DEMO.email, userId, `email:${DEMO.email}`]) expect(key.includes(plainHash(candidate)), `${key} is a plain hash of ${candidate}`).toBe(false)
      }
      names.push({ account: account.map((key) => key.slice(prefix.length)), owner: owner.map((key) => key.slice(prefix.length)) })
    }
    // Same emails and user, another SESSION_SECRET: other names.
    const [first, second] = names as [{ account: string[], owner: string[] }, { account: string[], owner: string[] }]
    for (const name of first.account) expect(second.account).not.toContain(name)
    expect(second.owner).not.toContain(first.owner[0])
  })
})
