import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { MemorySessionStore } from '../src/session/memory-store.js'
import { RedisSessionStore } from '../src/session/redis-store.js'
import type { SessionStore } from '../src/session/store.js'
import { describeOnRedis, dumpKeys, testPrefix } from './helpers/redis.js'
import type { RedisDeployment } from './helpers/redis.js'

const SECRET_A = 'transient-secret-a-0123456789-0123456789'
const SECRET_B = 'transient-secret-b-9876543210-9876543210'

const memoryStores: MemorySessionStore[] = []
afterEach(async () => {
  while (memoryStores.length > 0) await memoryStores.pop()?.close()
})

function memoryStore (options: { maxCount?: number, now?: () => number } = {}): MemorySessionStore {
  const store = new MemorySessionStore({ maxCount: options.maxCount ?? 100, ...(options.now === undefined ? {} : { now: options.now }) })
  memoryStores.push(store)
  return store
}

function redisStore (redis: RedisDeployment, prefix: string, secrets = [SECRET_A]): RedisSessionStore {
  return new RedisSessionStore(redis.client(), { prefix, secrets, ownerIndexTtlMs: 3_600_000 })
}

const key = (): string => `login:${randomBytes(12).toString('base64url')}`

/** What both stores must do alike. */
function behavesAsTransientStore (make: () => SessionStore): void {
  it('keeps, reads and deletes a record under its key; other keys hold nothing', async () => {
    const store = make()
    const [mine, other] = [key(), key()]
    expect(await store.getTransient(mine)).toBeNull()
    await store.putTransient(mine, 'sealed-1', 60_000)
    expect(await store.getTransient(mine)).toBe('sealed-1')
    expect(await store.getTransient(mine)).toBe('sealed-1')
    expect(await store.getTransient(other)).toBeNull()
    await store.putTransient(mine, 'sealed-2', 60_000)
    expect(await store.getTransient(mine)).toBe('sealed-2')
    await store.deleteTransient(mine)
    expect(await store.getTransient(mine)).toBeNull()
    await store.deleteTransient(mine)
  })

  it('take answers the record once and removes it', async () => {
    const store = make()
    const mine = key()
    await store.putTransient(mine, 'sealed', 60_000)
    expect(await store.takeTransient(mine)).toBe('sealed')
    expect(await store.takeTransient(mine)).toBeNull()
    expect(await store.getTransient(mine)).toBeNull()
  })

  it('of twenty concurrent takers exactly one gets the record', async () => {
    const store = make()
    const mine = key()
    await store.putTransient(mine, 'once', 60_000)
    const taken = await Promise.all(Array.from({ length: 20 }, async () => await store.takeTransient(mine)))
    expect(taken.filter((data) => data !== null)).toEqual(['once'])
  })

  it('a record is gone after its TTL', async () => {
    const store = make()
    const mine = key()
    await store.putTransient(mine, 'short', 150)
    expect(await store.getTransient(mine)).toBe('short')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await store.getTransient(mine)).toBeNull()
    expect(await store.takeTransient(mine)).toBeNull()
  })

  it('transient records and sessions do not see each other', async () => {
    const store = make()
    const id = randomBytes(24).toString('base64url')
    await store.create(id, 'owner-1', 'session-blob', 60_000)
    expect(await store.getTransient(id)).toBeNull()
    await store.putTransient(id, 'transient-blob', 60_000)
    expect(await store.get(id)).toMatchObject({ data: 'session-blob' })
    await store.destroy(id)
    expect(await store.getTransient(id)).toBe('transient-blob')
  })
}

describe('transient records in the in-process store', () => {
  behavesAsTransientStore(() => memoryStore())

  it('expiry follows the store\'s clock, and sweep drops expired records nobody asks for', async () => {
    let now = 1_700_000_000_000
    const store = memoryStore({ now: () => now })
    await store.putTransient('a', 'A', 1_000)
    await store.putTransient('b', 'B', 5_000)
    now += 999
    expect(await store.getTransient('a')).toBe('A')
    now += 1
    expect(await store.getTransient('a')).toBeNull()
    now += 4_000
    expect(store.transientCount).toBe(1)
    store.sweep()
    expect(store.transientCount).toBe(0)
  })

  it('is bounded by the maximum count: the oldest record goes first', async () => {
    const store = memoryStore({ maxCount: 3 })
    for (const name of ['a', 'b', 'c', 'd']) await store.putTransient(name, name.toUpperCase(), 60_000)
    expect(store.transientCount).toBe(3)
    expect(await store.getTransient('a')).toBeNull()
    expect(await store.getTransient('d')).toBe('D')
    // Sessions are not evicted by transient records, nor the other way round.
    expect(store.size).toBe(0)
  })
})

describeOnRedis('transient records in Redis', (redis) => {
  behavesAsTransientStore(() => redisStore(redis, testPrefix()))

  it('names each record with an HMAC under the prefix, never with its key, and gives it the TTL', async () => {
    const prefix = testPrefix()
    const store = redisStore(redis, prefix)
    const named = 'passwordless-email:someone@example.com'
    await store.putTransient(named, 'sealed', 600_000)

    const dump = await dumpKeys(redis, `${prefix}*`)
    expect(dump).toHaveLength(1)
    const [entry] = dump as [{ key: string, value: string }]
    expect(entry.key).toMatch(new RegExp(`^${prefix}transient:[A-Za-z0-9_-]{22}$`))
    expect(entry.key).not.toContain('someone')
    expect(entry.value).toBe('sealed')
    const ttl = await redis.client().pttl(entry.key)
    expect(ttl).toBeGreaterThan(590_000)
    expect(ttl).toBeLessThanOrEqual(600_000)

    // Another secret names it otherwise: the name is keyed, not a plain hash.
    await redisStore(redis, prefix, [SECRET_B]).putTransient(named, 'other', 600_000)
    expect(await dumpKeys(redis, `${prefix}*`)).toHaveLength(2)
  })

  it('during a secret rotation every instance finds a record whichever first secret wrote it; a replace leaves one name', async () => {
    const prefix = testPrefix()
    const before = redisStore(redis, prefix, [SECRET_A])
    const during = redisStore(redis, prefix, [SECRET_B, SECRET_A])
    const mine = key()
    await before.putTransient(mine, 'written-under-a', 60_000)
    expect(await during.getTransient(mine)).toBe('written-under-a')

    await during.putTransient(mine, 'written-under-b', 60_000)
    expect(await dumpKeys(redis, `${prefix}*`)).toHaveLength(1)
    expect(await during.takeTransient(mine)).toBe('written-under-b')
    expect(await before.getTransient(mine)).toBeNull()

    await before.putTransient(mine, 'again-under-a', 60_000)
    await during.deleteTransient(mine)
    expect(await dumpKeys(redis, `${prefix}*`)).toHaveLength(0)
  })

  it('two stores on one Redis (two instances) share the records: one takes what the other put', async () => {
    const prefix = testPrefix()
    const mine = key()
    await redisStore(redis, prefix).putTransient(mine, 'shared', 60_000)
    const [a, b] = [redisStore(redis, prefix), redisStore(redis, prefix)]
    const taken = await Promise.all([a.takeTransient(mine), b.takeTransient(mine)])
    expect(taken.filter((data) => data !== null)).toEqual(['shared'])
  })
})
