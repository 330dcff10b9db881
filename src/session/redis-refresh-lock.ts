import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { HttpProblem } from '../errors.js'
import type { RefreshLock } from './refresh-lock.js'
import { redisUnavailable } from './store.js'

/** Deletes the lock only if it still holds this owner's value: a late owner never frees a successor's lock. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

interface LockCommands {
  bffLockRelease: (key: string, owner: string) => Promise<number>
}

export interface RedisRefreshLockOptions {
  prefix: string
  /** A crashed holder blocks the session's refresh at most this long. */
  ttlMs?: number
  /** How often a waiter tries again. */
  pollMs?: number
}

/**
 * A per-session lock across instances: `SET key <random> NX PX ttl`, released only by its
 * owner. An instance that finds it taken polls until it is free, then the vault re-reads the
 * session and reuses the tokens the holder stored.
 */
export class RedisRefreshLock implements RefreshLock {
  readonly #redis: Redis & LockCommands
  readonly #prefix: string
  readonly #ttlMs: number
  readonly #pollMs: number

  constructor (redis: Redis, options: RedisRefreshLockOptions) {
    redis.defineCommand('bffLockRelease', { numberOfKeys: 1, lua: RELEASE })
    this.#redis = redis as Redis & LockCommands
    this.#prefix = `${options.prefix}refresh-lock:`
    this.#ttlMs = options.ttlMs ?? 15_000
    this.#pollMs = options.pollMs ?? 20
  }

  async acquire (key: string): Promise<() => Promise<void>> {
    const lockKey = this.#prefix + key
    const owner = randomUUID()
    // Past the TTL a dead holder's lock has expired, so waiting longer than that means trouble.
    const deadline = Date.now() + this.#ttlMs + 2000
    for (;;) {
      let taken: string | null
      try {
        taken = await this.#redis.set(lockKey, owner, 'PX', this.#ttlMs, 'NX')
      } catch (error) {
        throw redisUnavailable(error)
      }
      if (taken === 'OK') {
        return async () => {
          // A failed release only delays the next refresh of this session until the TTL.
          await this.#redis.bffLockRelease(lockKey, owner).catch(() => {})
        }
      }
      if (Date.now() > deadline) {
        throw new HttpProblem(503, 'refresh_busy', 'Another instance is still refreshing this session. Try again shortly.', { headers: { 'retry-after': '1' } })
      }
      await new Promise((resolve) => setTimeout(resolve, this.#pollMs))
    }
  }
}
