import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { deriveKey, keyedName } from '../secret-keys.js'
import type { OwnedSession, SessionStore, StoredSession } from './store.js'
import { redisUnavailable } from './store.js'

/**
 * Sessions in Redis, shared by every instance. One hash per session (`d` encrypted record,
 * `v` version, `e` expiry, `o` owner) with a TTL in step with the session's lifetime, and per
 * owner an index for "log out everywhere": a sorted set of session ids, each scored by when
 * Redis expires that session (Redis's own clock, so instances' clocks do not matter). Every
 * log-in first drops the ids whose sessions are over, so the index holds about the owner's
 * live sessions however often they log in. Every write is a Lua script, so a compare-and-set
 * on the version is atomic: a refresh on one instance can never overwrite a newer refresh
 * from another, nor bring back a session that a log-out deleted.
 * Reading a session is one HMGET; a proxied request in steady state writes nothing.
 */
const NOW_MS = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`

/**
 * Writes a new session hash and adds it to its owner's index, dropping the ids of ended sessions
 * first. ARGV: record, owner name, TTL, expiry, id, index TTL.
 */
function newSession (session: string, index: string): string {
  return `
redis.call('DEL', ${session})
redis.call('HSET', ${session}, 'd', ARGV[1], 'v', 1, 'e', ARGV[4], 'o', ARGV[2], 't', now)
redis.call('PEXPIRE', ${session}, ARGV[3])
redis.call('ZREMRANGEBYSCORE', ${index}, '-inf', '(' .. now)
redis.call('ZADD', ${index}, now + tonumber(ARGV[3]), ARGV[5])
redis.call('PEXPIRE', ${index}, ARGV[6])`
}

const CREATE = `${NOW_MS}${newSession('KEYS[1]', 'KEYS[2]')}
return 1`

/**
 * Ends the previous session KEYS[1] (and its index entry) and records the new id as its
 * successor in KEYS[2]. ARGV: as newSession's, then successor TTL, owner prefix, previous id.
 */
const MOVE_TO_SUCCESSOR = `
local previousOwner = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
if previousOwner then redis.call('ZREM', ARGV[8] .. previousOwner, ARGV[9]) end
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[7])`

/**
 * KEYS: previous session, its successor record, new session, new owner index. Ends the previous
 * session (and its index entry) and creates the new one, unless another log-in got there first.
 */
const REPLACE = `${NOW_MS}
local successor = redis.call('GET', KEYS[2])
if successor then return successor end${MOVE_TO_SUCCESSOR}${newSession('KEYS[3]', 'KEYS[4]')}
return 1`

/** As REPLACE, but only while the previous session is at version ARGV[10] (a renewal must not lose a write, nor revive a session). */
const RENEW = `${NOW_MS}
local version = redis.call('HGET', KEYS[1], 'v')
if not version or tonumber(version) ~= tonumber(ARGV[10]) then return 0 end${MOVE_TO_SUCCESSOR}${newSession('KEYS[3]', 'KEYS[4]')}
return 1`

/** Moves the session's score in its owner's index to its new expiry (XX: never adds back an id a log-out removed). */
function rescore (ttl: number, ownerPrefix: number, id: number): string {
  return `
local owner = redis.call('HGET', KEYS[1], 'o')
if owner then redis.call('ZADD', ARGV[${ownerPrefix}] .. owner, 'XX', now + tonumber(ARGV[${ttl}]), ARGV[${id}]) end`
}

const UPDATE = `${NOW_MS}
local version = redis.call('HGET', KEYS[1], 'v')
if not version or tonumber(version) ~= tonumber(ARGV[1]) then return false end
local next = tonumber(version) + 1
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', next, 'e', ARGV[4], 't', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
${rescore(3, 5, 6)}
return next`

const TOUCH = `${NOW_MS}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'e', ARGV[2], 't', now)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
${rescore(1, 3, 4)}
return 1`

const DESTROY = `
local owner = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
if owner then redis.call('ZREM', ARGV[2] .. owner, ARGV[1]) end
return 1`

/**
 * Every index named (one per secret, and a legacy set); answers how many sessions ended. The
 * session ARGV[2] (when not empty) is kept, and so is its entry in its index (zset or legacy
 * set), with the index's expiry: a later log-out everywhere must still find it.
 */
const DESTROY_OWNER = `
local ended = 0
for _, index in ipairs(KEYS) do
  local kind = redis.call('TYPE', index).ok
  local ids = {}
  if kind == 'zset' then ids = redis.call('ZRANGE', index, 0, -1)
  elseif kind == 'set' then ids = redis.call('SMEMBERS', index) end
  local kept = false
  for _, id in ipairs(ids) do
    if id == ARGV[2] then
      kept = kind == 'zset' and redis.call('ZSCORE', index, id) or true
    else
      ended = ended + redis.call('DEL', ARGV[1] .. id)
    end
  end
  local ttl = redis.call('PTTL', index)
  redis.call('DEL', index)
  if kept then
    if kind == 'zset' then redis.call('ZADD', index, kept, ARGV[2]) else redis.call('SADD', index, ARGV[2]) end
    if ttl > 0 then redis.call('PEXPIRE', index, ttl) end
  end
end
return ended`

/** The live sessions in every index named: id, record, expiry and last write or touch of each, flat. */
const LIST_OWNER = `${NOW_MS}
local seen = {}
local found = {}
for _, index in ipairs(KEYS) do
  local kind = redis.call('TYPE', index).ok
  local ids = {}
  if kind == 'zset' then ids = redis.call('ZRANGEBYSCORE', index, now, '+inf')
  elseif kind == 'set' then ids = redis.call('SMEMBERS', index) end
  for _, id in ipairs(ids) do
    if not seen[id] then
      seen[id] = true
      local fields = redis.call('HMGET', ARGV[1] .. id, 'd', 'e', 't')
      if fields[1] then
        table.insert(found, id)
        table.insert(found, fields[1])
        table.insert(found, fields[2] or '0')
        table.insert(found, fields[3] or '0')
      end
    end
  end
end
return found`

interface SessionCommands {
  bffSessionCreate: (session: string, owner: string, data: string, ownerName: string, ttl: number, expiresAt: number, id: string, ownerTtl: number) => Promise<number>
  bffSessionReplace: (previous: string, successor: string, session: string, ownerIndex: string, data: string, ownerName: string, ttl: number, expiresAt: number, id: string, ownerTtl: number, successorTtl: number, ownerPrefix: string, previousId: string) => Promise<number | string>
  bffSessionRenew: (previous: string, successor: string, session: string, ownerIndex: string, data: string, ownerName: string, ttl: number, expiresAt: number, id: string, ownerTtl: number, successorTtl: number, ownerPrefix: string, previousId: string, expectedVersion: number) => Promise<number>
  bffSessionUpdate: (session: string, expected: number, data: string, ttl: number, expiresAt: number, ownerPrefix: string, id: string) => Promise<number | null>
  bffSessionTouch: (session: string, ttl: number, expiresAt: number, ownerPrefix: string, id: string) => Promise<number>
  bffSessionDestroy: (session: string, id: string, ownerPrefix: string) => Promise<number>
  bffSessionDestroyOwner: (indexCount: number, ...indexesThenArguments: string[]) => Promise<number>
  bffSessionListOwner: (indexCount: number, ...indexesThenSessionPrefix: string[]) => Promise<string[]>
}

export interface RedisSessionStoreOptions {
  /** Prefix of every key, e.g. `ejento-bff:`. */
  prefix: string
  /** The SESSION_SECRET entries: the first names the owner indexes it writes, all are looked in. */
  secrets: readonly string[]
  /** How long an owner's index lives after that owner's latest log-in: the absolute session lifetime. */
  ownerIndexTtlMs: number
  now?: () => number
}

const OWNER_NAME_LABEL = 'session-owner/hmac-sha256/v1'
const TRANSIENT_NAME_LABEL = 'transient-record/hmac-sha256/v1'

export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis'
  readonly #redis: Redis & SessionCommands
  readonly #sessionPrefix: string
  readonly #successorPrefix: string
  readonly #ownerPrefix: string
  readonly #legacyOwnerPrefix: string
  readonly #ownerNameKeys: Buffer[]
  readonly #transientPrefix: string
  readonly #transientNameKeys: Buffer[]
  readonly #ownerIndexTtlMs: number
  readonly #now: () => number

  constructor (redis: Redis, options: RedisSessionStoreOptions) {
    if (options.secrets.length === 0) throw new Error('RedisSessionStore needs at least one secret')
    this.#sessionPrefix = `${options.prefix}session:`
    this.#successorPrefix = `${options.prefix}successor:`
    this.#ownerPrefix = `${options.prefix}owner-sessions:`
    this.#legacyOwnerPrefix = `${options.prefix}owner:`
    this.#ownerNameKeys = options.secrets.map((secret) => deriveKey(secret, OWNER_NAME_LABEL))
    this.#transientPrefix = `${options.prefix}transient:`
    this.#transientNameKeys = options.secrets.map((secret) => deriveKey(secret, TRANSIENT_NAME_LABEL))
    this.#ownerIndexTtlMs = options.ownerIndexTtlMs
    this.#now = options.now ?? Date.now
    this.#redis = redis as Redis & SessionCommands
    redis.defineCommand('bffSessionCreate', { numberOfKeys: 2, lua: CREATE })
    redis.defineCommand('bffSessionReplace', { numberOfKeys: 4, lua: REPLACE })
    redis.defineCommand('bffSessionRenew', { numberOfKeys: 4, lua: RENEW })
    redis.defineCommand('bffSessionUpdate', { numberOfKeys: 1, lua: UPDATE })
    redis.defineCommand('bffSessionTouch', { numberOfKeys: 1, lua: TOUCH })
    redis.defineCommand('bffSessionDestroy', { numberOfKeys: 1, lua: DESTROY })
    redis.defineCommand('bffSessionDestroyOwner', { lua: DESTROY_OWNER })
    redis.defineCommand('bffSessionListOwner', { lua: LIST_OWNER })
  }

  async get (id: string): Promise<StoredSession | null> {
    const [data, version, expiresAt] = await this.#call(async () => await this.#redis.hmget(this.#sessionPrefix + id, 'd', 'v', 'e'))
    if (data === null || data === undefined) return null
    return { data, version: Number(version), expiresAt: Number(expiresAt) }
  }

  async create (id: string, owner: string, data: string, ttlMs: number): Promise<number> {
    const ownerName = keyedName(this.#ownerNameKeys[0] as Buffer, owner)
    await this.#call(async () => await this.#redis.bffSessionCreate(
      this.#sessionPrefix + id, this.#ownerPrefix + ownerName, data, ownerName, ttlMs, this.#now() + ttlMs, id, this.#ownerIndexTtlMs
    ))
    return 1
  }

  async replace (previousId: string, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<{ created: number } | { successor: string }> {
    const ownerName = keyedName(this.#ownerNameKeys[0] as Buffer, owner)
    const answer = await this.#call(async () => await this.#redis.bffSessionReplace(
      this.#sessionPrefix + previousId, this.#successorPrefix + previousId, this.#sessionPrefix + id, this.#ownerPrefix + ownerName,
      data, ownerName, ttlMs, this.#now() + ttlMs, id, this.#ownerIndexTtlMs, successorTtlMs, this.#ownerPrefix, previousId
    ))
    return typeof answer === 'string' ? { successor: answer } : { created: 1 }
  }

  async renew (previousId: string, expectedVersion: number, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<number | null> {
    const ownerName = keyedName(this.#ownerNameKeys[0] as Buffer, owner)
    const renewed = await this.#call(async () => await this.#redis.bffSessionRenew(
      this.#sessionPrefix + previousId, this.#successorPrefix + previousId, this.#sessionPrefix + id, this.#ownerPrefix + ownerName,
      data, ownerName, ttlMs, this.#now() + ttlMs, id, this.#ownerIndexTtlMs, successorTtlMs, this.#ownerPrefix, previousId, expectedVersion
    ))
    return renewed === 1 ? 1 : null
  }

  async successorOf (id: string): Promise<string | null> {
    return await this.#call(async () => await this.#redis.get(this.#successorPrefix + id))
  }

  async update (id: string, expectedVersion: number, data: string, ttlMs: number): Promise<number | null> {
    const version = await this.#call(async () => await this.#redis.bffSessionUpdate(this.#sessionPrefix + id, expectedVersion, data, ttlMs, this.#now() + ttlMs, this.#ownerPrefix, id))
    return version === null ? null : Number(version)
  }

  async touch (id: string, ttlMs: number): Promise<boolean> {
    return (await this.#call(async () => await this.#redis.bffSessionTouch(this.#sessionPrefix + id, ttlMs, this.#now() + ttlMs, this.#ownerPrefix, id))) === 1
  }

  async destroy (id: string): Promise<void> {
    await this.#call(async () => await this.#redis.bffSessionDestroy(this.#sessionPrefix + id, id, this.#ownerPrefix))
  }

  /**
   * Ends the sessions in the owner's index under every secret (during a rotation, instances
   * with different first secrets write different indexes), and in the set that versions
   * before keyed indexes wrote, which lasts until their sessions have ended (SESSION_MAX_AGE).
   */
  async destroyOwner (owner: string, exceptId = ''): Promise<number> {
    const indexes = this.#ownerIndexes(owner)
    return await this.#call(async () => await this.#redis.bffSessionDestroyOwner(indexes.length, ...indexes, this.#sessionPrefix, exceptId))
  }

  async listOwner (owner: string): Promise<OwnedSession[]> {
    const indexes = this.#ownerIndexes(owner)
    const flat = await this.#call(async () => await this.#redis.bffSessionListOwner(indexes.length, ...indexes, this.#sessionPrefix))
    const sessions: OwnedSession[] = []
    for (let index = 0; index + 3 < flat.length; index += 4) {
      sessions.push({ id: flat[index] as string, data: flat[index + 1] as string, expiresAt: Number(flat[index + 2]), touchedAt: Number(flat[index + 3]) })
    }
    return sessions
  }

  /**
   * The owner's index under every secret (during a rotation, instances with different first
   * secrets write different indexes), and the set that versions before keyed indexes wrote,
   * which lasts until their sessions have ended (SESSION_MAX_AGE).
   */
  #ownerIndexes (owner: string): string[] {
    return [
      ...this.#ownerNameKeys.map((key) => this.#ownerPrefix + keyedName(key, owner)),
      this.#legacyOwnerPrefix + createHash('sha256').update(owner).digest('base64url').slice(0, 22)
    ]
  }

  /**
   * One string per record, named by an HMAC of its key under the first secret (a key may hold an
   * address, and a Redis reader learns nothing from the name) and read under every secret: while
   * a rotation is under way, instances with different first secrets name it differently.
   * Commands stay one key each, so they work on a Redis Cluster too.
   */
  async putTransient (key: string, data: string, ttlMs: number): Promise<void> {
    const [name, ...older] = this.#transientNames(key)
    await this.#call(async () => await this.#redis.set(name as string, data, 'PX', Math.max(1, Math.ceil(ttlMs))))
    // Replacing means no older spelling still answers for the key.
    for (const other of older) await this.#call(async () => await this.#redis.del(other))
  }

  async getTransient (key: string): Promise<string | null> {
    for (const name of this.#transientNames(key)) {
      const data = await this.#call(async () => await this.#redis.get(name))
      if (data !== null) return data
    }
    return null
  }

  /** GETDEL (Redis 6.2): reading and deleting are one step, so two takers cannot both get the record. */
  async takeTransient (key: string): Promise<string | null> {
    for (const name of this.#transientNames(key)) {
      const data = await this.#call(async () => await this.#redis.getdel(name))
      if (data !== null) return data
    }
    return null
  }

  async deleteTransient (key: string): Promise<void> {
    for (const name of this.#transientNames(key)) await this.#call(async () => await this.#redis.del(name))
  }

  #transientNames (key: string): string[] {
    return [...new Set(this.#transientNameKeys.map((nameKey) => this.#transientPrefix + keyedName(nameKey, key)))]
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
