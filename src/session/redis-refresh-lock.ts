import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { HttpProblem } from '../errors.js'
import type { RefreshLock } from './refresh-lock.js'
import { redisUnavailable } from './store.js'

/** Deletes the lock only if it still holds this owner's value: a late owner never frees a successor's lock. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** Extends the lock only while this owner still holds it. */
const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

interface LockCommands {
  bffLockRelease: (key: string, owner: string) => Promise<number>
  bffLockExtend: (key: string, owner: string, ttlMs: number) => Promise<number>
}

export interface RedisRefreshLockOptions {
  prefix: string
  /** A crashed holder blocks the session's refresh at most this long. */
  ttlMs?: number
  /** The longest a live holder keeps the lock (its refresh's time limit); waiters give up after it and the TTL. */
  maxHoldMs?: number
  /** How often a waiter tries again. */
  pollMs?: number
}

/**
 * A per-session lock across instances: `SET key <random> NX PX ttl`, released only by its
 * owner. An instance that finds it taken polls until it is free, then the vault re-reads the
 * session and reuses the tokens the holder stored.
 *
 * A live holder extends the lock every third of the TTL, so a refresh slower than the TTL never
 * lets a second instance in to refresh with the old token (refused by a strictly rotating
 * upstream, which would end the session); a crashed holder stops extending and its lock expires.
 */
export class RedisRefreshLock implements RefreshLock {
  readonly #redis: Redis & LockCommands
  readonly #prefix: string
  readonly #ttlMs: number
  readonly #maxHoldMs: number
  readonly #pollMs: number

  constructor (redis: Redis, options: RedisRefreshLockOptions) {
    redis.defineCommand('bffLockRelease', { numberOfKeys: 1, lua: RELEASE })
    redis.defineCommand('bffLockExtend', { numberOfKeys: 1, lua: EXTEND })
    this.#redis = redis as Redis & LockCommands
    this.#prefix = `${options.prefix}refresh-lock:`
    this.#ttlMs = options.ttlMs ?? 15_000
    this.#maxHoldMs = options.maxHoldMs ?? 20_000
    this.#pollMs = options.pollMs ?? 20
  }

  async acquire (key: string): Promise<() => Promise<void>> {
    const lockKey = this.#prefix + key
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
