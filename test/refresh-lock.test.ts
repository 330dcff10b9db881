import type { Cluster, Redis } from 'ioredis'
import { expect, it } from 'vitest'
import { HttpProblem } from '../src/errors.js'
import { RedisRefreshLock } from '../src/session/redis-refresh-lock.js'
import { onCleanup, sleep } from './helpers/app.js'
import { describeOnRedis, testPrefix, waitUntil } from './helpers/redis.js'

function lockOn (redis: Redis | Cluster, options: { ttlMs: number, maxHoldMs?: number }): { lock: RedisRefreshLock, key: (name: string) => string } {
  const prefix = testPrefix()
  return { lock: new RedisRefreshLock(redis, { prefix, ...options }), key: (name) => `${prefix}refresh-lock:${name}` }
}

describeOnRedis('the refresh lock in Redis', (deployment) => {
  it('is released only by its owner: a late owner whose lock expired does not free its successor\'s', async () => {
    const redis = deployment.client()
    const { lock, key } = lockOn(redis, { ttlMs: 5000 })
    const releaseFirst = await lock.acquire('s1')
    const firstOwner = await redis.get(key('s1'))
    expect(firstOwner).toEqual(expect.any(String))

    await redis.del(key('s1')) // as if its TTL had passed while the first owner stalled
    const releaseSecond = await lock.acquire('s1')
    const secondOwner = await redis.get(key('s1'))
    expect(secondOwner).not.toBe(firstOwner)

    await releaseFirst()
    expect(await redis.get(key('s1'))).toBe(secondOwner)
    await releaseSecond()
    expect(await redis.exists(key('s1'))).toBe(0)
  })

  it('outlives a crashed holder only by the TTL', async () => {
    const redis = deployment.client()
    const { lock, key } = lockOn(redis, { ttlMs: 300 })
    // A holder that died right after taking the lock: it never extends nor releases it.
    await redis.set(key('s2'), 'dead-holder', 'PX', 300, 'NX')
    const started = Date.now()

    const release = await lock.acquire('s2')

    expect(Date.now() - started).toBeGreaterThanOrEqual(200)
    expect(await redis.get(key('s2'))).not.toBe('dead-holder')
    await release()
  })

  it('is kept by a live holder past its TTL, so nobody else gets it during a slow refresh', async () => {
    const redis = deployment.client()
    const { lock, key } = lockOn(redis, { ttlMs: 1000, maxHoldMs: 20_000 })
    const release = await lock.acquire('s3')
    const owner = await redis.get(key('s3'))

    await sleep(2500) // two and a half TTLs
    expect(await redis.get(key('s3'))).toBe(owner)
    expect(await redis.set(key('s3'), 'intruder', 'PX', 1000, 'NX')).toBeNull()

    await release()
    expect(await redis.exists(key('s3'))).toBe(0)
  })

  it('stops being extended once its holder is past the longest hold, so a stuck holder blocks at most that plus the TTL', async () => {
    const redis = deployment.client()
    const { lock, key } = lockOn(redis, { ttlMs: 300, maxHoldMs: 300 })
    await lock.acquire('s5') // never released: the holder is stuck

    await waitUntil(async () => await redis.exists(key('s5')) === 0, 5000, 'the stuck holder\'s lock never lapsed')
    const again = await lock.acquire('s5')
    await again()
  })

  it('gives a waiter 503 refresh_busy once the longest refresh and the TTL have passed', async () => {
    const redis = deployment.client()
    const { lock, key } = lockOn(redis, { ttlMs: 100, maxHoldMs: 100 })
    await redis.set(key('s4'), 'stuck-holder', 'PX', 60_000)
    const started = Date.now()

    const failure = await lock.acquire('s4').then(() => undefined, (error: unknown) => error)

    expect(failure).toBeInstanceOf(HttpProblem)
    expect(failure).toMatchObject({ statusCode: 503, code: 'refresh_busy' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    expect(await redis.get(key('s4'))).toBe('stuck-holder')
  })

  it('an announced refresh is alive while its instance beats, and dead only once its key lapsed while Redis stayed reachable', async () => {
    const redis = deployment.client()
    const prefix = testPrefix()
    const options = { prefix, ttlMs: 1000, livenessTtlMs: 300, settleMs: 600 }
    const holder = new RedisRefreshLock(redis, options)
    const survivor = new RedisRefreshLock(redis, options)
    onCleanup(async () => { await holder.close(); await survivor.close() })

    expect(await survivor.announcedBy('s6', 'fp-1')).toBe('none')
    await holder.announce('s6', 'fp-1')
    expect(await survivor.announcedBy('s6', 'fp-1')).toBe('alive')
    // A refresh of another token, or the instance's own: nothing to wait for.
    expect(await survivor.announcedBy('s6', 'fp-2')).toBe('none')
    expect(await holder.announcedBy('s6', 'fp-1')).toBe('none')

    // The holder dies (its heartbeats stop): once its key lapses, the survivor calls it dead.
    await holder.close()
    await waitUntil(async () => await survivor.announcedBy('s6', 'fp-1') === 'dead', 5000, 'the dead holder was never called dead')
  })

  it('does not call an instance dead while its own view of Redis has only just come back (every key lapsed during the outage)', async () => {
    const redis = deployment.client()
    const prefix = testPrefix()
    const holder = new RedisRefreshLock(redis, { prefix, livenessTtlMs: 300, settleMs: 600 })
    onCleanup(async () => { await holder.close() })
    await holder.announce('s7', 'fp-1')
    await holder.close()
    await sleep(400) // the holder's key has lapsed
    // A survivor whose heartbeats only just started succeeding cannot tell an outage from a death.
    const survivor = new RedisRefreshLock(redis, { prefix, livenessTtlMs: 300, settleMs: 2000 })
    onCleanup(async () => { await survivor.close() })
    await sleep(100)
    expect(await survivor.announcedBy('s7', 'fp-1')).toBe('alive')
  })

  it('concludes only its own announcement', async () => {
    const redis = deployment.client()
    const prefix = testPrefix()
    const first = new RedisRefreshLock(redis, { prefix })
    const second = new RedisRefreshLock(redis, { prefix })
    onCleanup(async () => { await first.close(); await second.close() })
    await first.announce('s8', 'fp-1')
    await second.conclude('s8')
    expect(await redis.exists(`${prefix}refresh-intent:s8`)).toBe(1)
    await first.conclude('s8')
    expect(await redis.exists(`${prefix}refresh-intent:s8`)).toBe(0)
  })
})
