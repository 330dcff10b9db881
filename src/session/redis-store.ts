import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { SessionStore, StoredSession } from './store.js'
import { redisUnavailable } from './store.js'

/**
 * Sessions in Redis, shared by every instance. One hash per session (`d` encrypted record,
 * `v` version, `e` expiry, `o` owner) with a TTL in step with the session's lifetime, and a
 * set per owner for "log out everywhere". Every write is a Lua script, so a compare-and-set
 * on the version is atomic: a refresh on one instance can never overwrite a newer refresh
 * from another, nor bring back a session that a log-out deleted.
 * Reading a session is one HMGET; a proxied request in steady state writes nothing.
 */
const CREATE = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', 1, 'e', ARGV[4], 'o', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1`

const UPDATE = `
local version = redis.call('HGET', KEYS[1], 'v')
if not version or tonumber(version) ~= tonumber(ARGV[1]) then return false end
local next = tonumber(version) + 1
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', next, 'e', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return next`

const TOUCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`

const DESTROY = `
local owner = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
if owner then redis.call('SREM', ARGV[2] .. owner, ARGV[1]) end
return 1`

const DESTROY_OWNER = `
local ids = redis.call('SMEMBERS', KEYS[1])
local ended = 0
for _, id in ipairs(ids) do ended = ended + redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return ended`

interface SessionCommands {
  bffSessionCreate: (session: string, owner: string, data: string, ownerKey: string, ttl: number, expiresAt: number, id: string, ownerTtl: number) => Promise<number>
  bffSessionUpdate: (session: string, expected: number, data: string, ttl: number, expiresAt: number) => Promise<number | null>
  bffSessionTouch: (session: string, ttl: number, expiresAt: number) => Promise<number>
  bffSessionDestroy: (session: string, id: string, ownerPrefix: string) => Promise<number>
  bffSessionDestroyOwner: (owner: string, sessionPrefix: string) => Promise<number>
}

export interface RedisSessionStoreOptions {
  /** Prefix of every key, e.g. `ejento-bff:`. */
  prefix: string
  /** How long an owner's index lives after that owner's latest log-in: the absolute session lifetime. */
  ownerIndexTtlMs: number
  now?: () => number
}

export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis'
  readonly #redis: Redis & SessionCommands
  readonly #sessionPrefix: string
  readonly #ownerPrefix: string
  readonly #ownerIndexTtlMs: number
  readonly #now: () => number

  constructor (redis: Redis, options: RedisSessionStoreOptions) {
    this.#sessionPrefix = `${options.prefix}session:`
    this.#ownerPrefix = `${options.prefix}owner:`
    this.#ownerIndexTtlMs = options.ownerIndexTtlMs
    this.#now = options.now ?? Date.now
    this.#redis = redis as Redis & SessionCommands
    redis.defineCommand('bffSessionCreate', { numberOfKeys: 2, lua: CREATE })
    redis.defineCommand('bffSessionUpdate', { numberOfKeys: 1, lua: UPDATE })
    redis.defineCommand('bffSessionTouch', { numberOfKeys: 1, lua: TOUCH })
    redis.defineCommand('bffSessionDestroy', { numberOfKeys: 1, lua: DESTROY })
    redis.defineCommand('bffSessionDestroyOwner', { numberOfKeys: 1, lua: DESTROY_OWNER })
  }

  async get (id: string): Promise<StoredSession | null> {
    const [data, version, expiresAt] = await this.#call(async () => await this.#redis.hmget(this.#sessionPrefix + id, 'd', 'v', 'e'))
    if (data === null || data === undefined) return null
    return { data, version: Number(version), expiresAt: Number(expiresAt) }
  }

  async create (id: string, owner: string, data: string, ttlMs: number): Promise<number> {
    const ownerKey = ownerHash(owner)
    await this.#call(async () => await this.#redis.bffSessionCreate(
      this.#sessionPrefix + id, this.#ownerPrefix + ownerKey, data, ownerKey, ttlMs, this.#now() + ttlMs, id, this.#ownerIndexTtlMs
    ))
    return 1
  }

  async update (id: string, expectedVersion: number, data: string, ttlMs: number): Promise<number | null> {
    const version = await this.#call(async () => await this.#redis.bffSessionUpdate(this.#sessionPrefix + id, expectedVersion, data, ttlMs, this.#now() + ttlMs))
    return version === null ? null : Number(version)
  }

  async touch (id: string, ttlMs: number): Promise<boolean> {
    return (await this.#call(async () => await this.#redis.bffSessionTouch(this.#sessionPrefix + id, ttlMs, this.#now() + ttlMs))) === 1
  }

  async destroy (id: string): Promise<void> {
    await this.#call(async () => await this.#redis.bffSessionDestroy(this.#sessionPrefix + id, id, this.#ownerPrefix))
  }

  async destroyOwner (owner: string): Promise<number> {
    return await this.#call(async () => await this.#redis.bffSessionDestroyOwner(this.#ownerPrefix + ownerHash(owner), this.#sessionPrefix))
  }

  async ping (): Promise<void> {
    await this.#call(async () => await this.#redis.ping())
  }

  /** The client belongs to the app, which closes it; nothing to release here. */
  async close (): Promise<void> {}

  async #call<T> (command: () => Promise<T>): Promise<T> {
    try {
      return await command()
    } catch (error) {
      throw redisUnavailable(error)
    }
  }
}

/** Owners are keyed by a hash, so that no email appears in a Redis key. */
function ownerHash (owner: string): string {
  return createHash('sha256').update(owner).digest('base64url').slice(0, 22)
}
