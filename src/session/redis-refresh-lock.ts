import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { HttpProblem } from '../errors.js'
import type { AnnouncedRefresh, RefreshLock } from './refresh-lock.js'
import { redisUnavailable } from './store.js'

/** Deletes the lock only if it still holds this owner's value: a late owner never frees a successor's lock. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** Extends the lock only while this owner still holds it. */
const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

/** Deletes a refresh announcement only if this instance made it. */
const CONCLUDE = `
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then return redis.call('DEL', KEYS[1]) end
return 0`

/** The longest an instance's Redis client waits between reconnection attempts (src/redis.ts), plus a beat. */
const RECONNECT_MS = 3000

interface LockCommands {
  bffLockRelease: (key: string, owner: string) => Promise<number>
  bffLockExtend: (key: string, owner: string, ttlMs: number) => Promise<number>
  bffConclude: (key: string, instance: string) => Promise<number>
}

export interface RedisRefreshLockOptions {
  prefix: string
  /** A crashed holder blocks the session's refresh at most this long. */
  ttlMs?: number
  /** The longest a live holder keeps the lock (its refresh's time limit); waiters give up after it and the TTL. */
  maxHoldMs?: number
  /** How often a waiter tries again. */
  pollMs?: number
  /** How long an announcement of a refresh is kept at most (the longest a session lives). */
  announcementTtlMs?: number
  /** This instance's liveness key lapses this long after its last heartbeat (one a third of it). */
  livenessTtlMs?: number
  /**
   * How long this instance's own heartbeats must have succeeded before another's lapsed key
   * proves that one gone: its key's TTL plus the time a live instance takes to reconnect.
   */
  settleMs?: number
}

/**
 * A per-session lock across instances: `SET key <random> NX PX ttl`, released only by its
 * owner. An instance that finds it taken polls until it is free, then the vault re-reads the
 * session and reuses the tokens the holder stored.
 *
 * A live holder extends the lock every third of the TTL, so a refresh slower than the TTL never
 * lets a second instance in to refresh with the old token (refused by a strictly rotating
 * upstream, which would end the session); a crashed holder stops extending and its lock expires
 * within the TTL, which can therefore be short.
 *
 * Beside the lock, a refresh is announced (`refresh-intent:<session>` = `<instance> <token
 * fingerprint>`) before its call goes upstream and concluded once its tokens are stored, and
 * every instance keeps a liveness key (`instance:<id>`) fresh. A survivor that finds an
 * announcement of the token it holds knows the token may already be spent: it waits while the
 * announcing instance lives, and only once that instance is gone (its liveness key lapsed while
 * this instance's own view of Redis was healthy) does it try the old token once.
 *
 * Every command names one key, so on a Redis Cluster each goes to the primary that holds it.
 */
export class RedisRefreshLock implements RefreshLock {
  readonly #redis: (Redis | Cluster) & LockCommands
  readonly #prefix: string
  readonly #ttlMs: number
  readonly #maxHoldMs: number
  readonly #pollMs: number
  readonly #announcementTtlMs: number
  readonly #livenessTtlMs: number
  readonly #settleMs: number
  readonly #instance = randomUUID()
  readonly #heartbeat: NodeJS.Timeout
  /** Since when this instance's heartbeats have succeeded without a break (0: the last one failed). */
  #healthySince = 0
  /** Announcements whose conclusion could not be written yet: retried with each heartbeat. */
  readonly #unconcluded = new Set<string>()

  constructor (redis: Redis | Cluster, options: RedisRefreshLockOptions) {
    redis.defineCommand('bffLockRelease', { numberOfKeys: 1, lua: RELEASE })
    redis.defineCommand('bffLockExtend', { numberOfKeys: 1, lua: EXTEND })
    redis.defineCommand('bffConclude', { numberOfKeys: 1, lua: CONCLUDE })
    this.#redis = redis as (Redis | Cluster) & LockCommands
    this.#prefix = options.prefix
    this.#ttlMs = options.ttlMs ?? 5000
    this.#maxHoldMs = options.maxHoldMs ?? 20_000
    this.#pollMs = options.pollMs ?? 20
    this.#announcementTtlMs = options.announcementTtlMs ?? 12 * 3_600_000
    this.#livenessTtlMs = options.livenessTtlMs ?? 3000
    this.#settleMs = options.settleMs ?? this.#livenessTtlMs + RECONNECT_MS
    this.#heartbeat = setInterval(() => { this.#beat().catch(() => {}) }, Math.max(1, Math.floor(this.#livenessTtlMs / 3)))
    this.#heartbeat.unref()
    this.#beat().catch(() => {})
  }

  async acquire (key: string): Promise<() => Promise<void>> {
    const lockKey = `${this.#prefix}refresh-lock:${key}`
    const owner = randomUUID()
    // A live holder is done within maxHold; a dead one's lock expires within the TTL.
    const deadline = Date.now() + this.#maxHoldMs + this.#ttlMs + 1000
    for (;;) {
      let taken: string | null
      try {
        taken = await this.#redis.set(lockKey, owner, 'PX', this.#ttlMs, 'NX')
      } catch (error) {
        throw redisUnavailable(error)
      }
      if (taken === 'OK') return this.#held(lockKey, owner)
      if (Date.now() > deadline) {
        throw new HttpProblem(503, 'refresh_busy', 'Another instance is still refreshing this session. Try again shortly.', { headers: { 'retry-after': '1' } })
      }
      await new Promise((resolve) => setTimeout(resolve, this.#pollMs))
    }
  }

  async announce (key: string, fingerprint: string): Promise<void> {
    this.#unconcluded.delete(key)
    try {
      await this.#redis.set(this.#announcementKey(key), `${this.#instance} ${fingerprint}`, 'PX', this.#announcementTtlMs)
    } catch (error) {
      // A SET that timed out may still land, and nothing was spent: the heartbeat concludes it,
      // or every other instance would wait for this live one (refresh_pending) for hours.
      this.#unconcluded.add(key)
      throw redisUnavailable(error)
    }
  }

  async conclude (key: string): Promise<void> {
    try {
      await this.#redis.bffConclude(this.#announcementKey(key), this.#instance)
      this.#unconcluded.delete(key)
    } catch {
      // Left for the heartbeat; meanwhile the announcement only makes others wait for this instance.
      this.#unconcluded.add(key)
    }
  }

  async announcedBy (key: string, fingerprint: string): Promise<AnnouncedRefresh> {
    let announcement: string | null
    try {
      announcement = await this.#redis.get(this.#announcementKey(key))
    } catch (error) {
      throw redisUnavailable(error)
    }
    if (announcement === null) return 'none'
    const [instance = '', announced] = announcement.split(' ')
    // A refresh of another token (long since stored) or one of this instance's own settled ones.
    if (announced !== fingerprint || instance === this.#instance) return 'none'
    let alive: number
    try {
      alive = await this.#redis.exists(`${this.#prefix}instance:${instance}`)
    } catch (error) {
      throw redisUnavailable(error)
    }
    if (alive === 1) return 'alive'
    // Its key lapsed. That proves it gone only if Redis has been reachable long enough for a live
    // instance to have reconnected and beaten again (after an outage everyone's keys have lapsed).
    return this.#healthySince !== 0 && Date.now() - this.#healthySince > this.#settleMs ? 'dead' : 'alive'
  }

  async close (): Promise<void> {
    clearInterval(this.#heartbeat)
    await this.#redis.del(`${this.#prefix}instance:${this.#instance}`).catch(() => {})
  }

  async #beat (): Promise<void> {
    try {
      await this.#redis.set(`${this.#prefix}instance:${this.#instance}`, '1', 'PX', this.#livenessTtlMs)
      if (this.#healthySince === 0) this.#healthySince = Date.now()
    } catch {
      this.#healthySince = 0
      return
    }
    for (const key of this.#unconcluded) await this.conclude(key)
  }

  #announcementKey (key: string): string {
    return `${this.#prefix}refresh-intent:${key}`
  }

  #held (lockKey: string, owner: string): () => Promise<void> {
    // Past maxHold the holder is stuck: stop extending, so its lock lapses within the TTL, as
    // the waiters (who give up at maxHold + TTL) expect.
    const until = Date.now() + this.#maxHoldMs
    const keepAlive = setInterval(() => {
      if (Date.now() > until) {
        clearInterval(keepAlive)
        return
      }
      // A failed extension only shortens the lock to its TTL; the refresh itself goes on.
      this.#redis.bffLockExtend(lockKey, owner, this.#ttlMs).catch(() => {})
    }, Math.max(1, Math.floor(this.#ttlMs / 3)))
    keepAlive.unref()
    return async () => {
      clearInterval(keepAlive)
      // A failed release only delays the next refresh of this session until the TTL.
      await this.#redis.bffLockRelease(lockKey, owner).catch(() => {})
    }
  }
}
