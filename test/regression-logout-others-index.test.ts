import { createHash, randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import { RedisSessionStore } from '../src/session/redis-store.js'
import { REDIS_URL, describeWithRedis, dumpKeys, redisClient, testPrefix } from './helpers/redis.js'

/**
 * Regression (attack on issue 11): "log out everywhere else" (DESTROY_OWNER with the current
 * session kept) deletes the owner's index and adds the kept id back, and
 * 1. the index it wrote again had no expiry: when the kept session ended without another log-in
 *    of its owner, the index stayed in Redis for ever;
 * 2. an index an earlier version wrote (a set under a plain hash) lost the kept id: that session
 *    was then out of every index, so it was no longer listed, and a later log-out everywhere, a
 *    password change or an admin's deactivation did not end it.
 */

const HOUR = 3_600_000

function newId (): string {
  return randomBytes(24).toString('base64url')
}

describeWithRedis('regression: log out everywhere else keeps the kept session indexed, and the index expiring', () => {
  it('the owner index keeps its expiry', async () => {
    const prefix = testPrefix()
    const redis = redisClient()
    const store = new RedisSessionStore(redis, { prefix, secrets: [randomBytes(32).toString('base64url')], ownerIndexTtlMs: HOUR })
    const [kept, other] = [newId(), newId()]
    await store.create(other, 'owner-1', 'x', 60_000)
    await store.create(kept, 'owner-1', 'y', 60_000)
    const [index] = (await dumpKeys(REDIS_URL, `${prefix}owner-sessions:*`)).map(({ key }) => key)
    expect(await redis.pttl(index as string)).toBeGreaterThan(HOUR - 60_000)

    expect(await store.destroyOwner('owner-1', kept)).toBe(1)
    expect(await redis.zrange(index as string, 0, -1)).toEqual([kept])
    expect(await redis.pttl(index as string)).toBeGreaterThan(HOUR - 60_000)
  })

  it('a session an earlier version indexed in a set stays in it, listed, and a later log-out everywhere ends it', async () => {
    const prefix = testPrefix()
    const redis = redisClient()
    const store = new RedisSessionStore(redis, { prefix, secrets: [randomBytes(32).toString('base64url')], ownerIndexTtlMs: HOUR })
    const plainHash = createHash('sha256').update('owner-1').digest('base64url').slice(0, 22)
    const legacyIndex = `${prefix}owner:${plainHash}`
    const [earlier, earlierToo, current] = [newId(), newId(), newId()]
    // What the previous version wrote at two log-ins, then a log-in on this version.
    for (const id of [earlier, earlierToo]) {
      await redis.hset(`${prefix}session:${id}`, 'd', `record-${id}`, 'v', 1, 'e', Date.now() + 60_000, 'o', plainHash)
      await redis.pexpire(`${prefix}session:${id}`, 60_000)
      await redis.sadd(legacyIndex, id)
    }
    await redis.pexpire(legacyIndex, HOUR)
    await store.create(current, 'owner-1', 'z', 60_000)

    // From the earlier session: every other one ends, this one stays indexed (and the index expiring).
    expect(await store.destroyOwner('owner-1', earlier)).toBe(2)
    expect(await redis.smembers(legacyIndex)).toEqual([earlier])
    expect(await redis.pttl(legacyIndex)).toBeGreaterThan(HOUR - 60_000)
    expect((await store.listOwner('owner-1')).map(({ id }) => id)).toEqual([earlier])

    // Later, from a new log-in: log out everywhere ends it.
    const later = newId()
    await store.create(later, 'owner-1', 'w', 60_000)
    expect(await store.destroyOwner('owner-1')).toBe(2)
    expect(await redis.exists(`${prefix}session:${earlier}`)).toBe(0)
    expect(await dumpKeys(REDIS_URL, `${prefix}*`)).toEqual([])
  })
})
