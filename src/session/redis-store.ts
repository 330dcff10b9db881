import { createHash } from 'node:crypto'
import { Cluster } from 'ioredis'
import type { Redis } from 'ioredis'
import { deriveKey, keyedName } from '../secret-keys.js'
import type { OwnedSession, SessionStore, StoredSession } from './store.js'
import { redisUnavailable } from './store.js'

/**
 * Sessions in Redis, shared by every instance: one hash per session (`d` encrypted record, `v`
 * version, `e` expiry, `o` owner, `t` last write) with a TTL in step with the session's lifetime;
 * for a minute after a log-in or a renewal moved a session to a new id, a successor record
 * naming that id; and per owner an index for "log out everywhere", a sorted set of session ids
 * scored by when each was due to expire when last looked at (Redis's own clock; a log-in checks
 * the overdue ones, and drops those that are over).
 *
 * The same code runs on one primary, under Sentinel and on a Redis Cluster. A session and its
 * successor record are the only keys a script touches together; on a cluster the session id is
 * their hash tag (`session:{<id>}`, `successor:{<id>}`), so they share a slot. A session and its
 * owner's index cannot (the index gathers sessions from every slot), so what one script once did
 * on both is now steps in an order that keeps these true under any interleaving:
 * - Versioned writes stay atomic per session (a compare-and-set in one script on its hash): no
 *   stale copy overwrites a newer one, and a deleted session is never written back.
 * - The index holds every live session: an id is added once its session exists and before anyone
 *   is handed the id, and removed only once that session is gone (it never comes back: ids are
 *   new at every log-in and renewal).
 * - Moving a session to a new id (a renewal, a log-in with the old cookie) ends it and writes its
 *   successor record in one script, after the new session exists. Log-out everywhere ends each
 *   session and reads its successor record in one script too, and ends that successor while it
 *   is of the same owner: a renewal racing it either loses its compare-and-set, or moves first and
 *   its new session is found and ended. None survives.
 * Reading a session is one HMGET; a proxied request in steady state writes nothing.
 */
const NOW_MS = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`

/** KEYS: a new session. ARGV: record, owner name, TTL, expiry. Answers when Redis will expire it (its own clock, ms). */
const WRITE_SESSION = `${NOW_MS}
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', 1, 'e', ARGV[4], 'o', ARGV[2], 't', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return now + tonumber(ARGV[3])`

/**
 * KEYS: an owner index. Adds a session that exists by now (ARGV: id, when its server expires
 * it, the index's TTL), and answers up to ARGV[4] ids whose recorded expiry has passed: the
 * caller checks which of those sessions are really over (touches and updates extend a session,
 * not its score).
 */
const INDEX_ADD = `${NOW_MS}
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[4]))`

/**
 * KEYS: an owner index. ARGV: id, PTTL of its session, id, PTTL, ... An id whose session is gone
 * (-2) leaves; a live one gets its real expiry as its score (XX: never adds back an id a log-out
 * removed; GT: never lowers a score another instance raised).
 */
const INDEX_RESCORE = `${NOW_MS}
for i = 1, #ARGV, 2 do
  local pttl = tonumber(ARGV[i + 1])
  if pttl == -2 then redis.call('ZREM', KEYS[1], ARGV[i])
  elseif pttl > 0 then redis.call('ZADD', KEYS[1], 'XX', 'GT', now + pttl, ARGV[i]) end
end
return 1`

/** KEYS: an owner index, a sorted set (this version) or a set (versions before keyed indexes). Its ids. */
const INDEX_READ = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'zset' then return redis.call('ZRANGE', KEYS[1], 0, -1) end
if kind == 'set' then return redis.call('SMEMBERS', KEYS[1]) end
return {}`

/** KEYS: an owner index, of either kind. Removes the ids in ARGV (sessions that are over); the rest, and the index's TTL, stay. */
const INDEX_REMOVE = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'zset' then return redis.call('ZREM', KEYS[1], unpack(ARGV)) end
if kind == 'set' then return redis.call('SREM', KEYS[1], unpack(ARGV)) end
return 0`

/**
 * KEYS: a session, its successor record. Ends the session and records the new id ARGV[1] as its
 * successor for ARGV[2] ms, when
 * - ARGV[3] is empty (a log-in with that session's cookie): unless another log-in did so first,
 *   whose new id it answers ({0, id}), so concurrent log-ins with one cookie end in one session;
 * - or the session is at version ARGV[3] (a renewal: it must not lose a write nor revive a
 *   session); {0} otherwise.
 * Answers {1, the ended session's owner name or ''}.
 */
const MOVE = `
if ARGV[3] == '' then
  local successor = redis.call('GET', KEYS[2])
  if successor then return {0, successor} end
else
  local version = redis.call('HGET', KEYS[1], 'v')
  if not version or tonumber(version) ~= tonumber(ARGV[3]) then return {0} end
end
local owner = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {1, owner or ''}`

/**
 * KEYS: a session, its successor record; log-out everywhere. Deletes the session when it is listed
 * in the owner's index (ARGV[1] = '1') or its owner is one of ARGV[2..] (the owner's names under
 * every secret, and the pre-HMAC one), and answers {deleted, the successor or nil}; {-1} for a
 * live session of someone else (another user logged in with that browser's cookie).
 */
const END = `
local owner = redis.call('HGET', KEYS[1], 'o')
if owner and ARGV[1] ~= '1' then
  local ours = false
  for i = 2, #ARGV do
    if owner == ARGV[i] then ours = true end
  end
  if not ours then return {-1} end
end
return {redis.call('DEL', KEYS[1]), redis.call('GET', KEYS[2])}`

const UPDATE = `${NOW_MS}
local version = redis.call('HGET', KEYS[1], 'v')
if not version or tonumber(version) ~= tonumber(ARGV[1]) then return false end
local next = tonumber(version) + 1
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', next, 'e', ARGV[4], 't', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return next`

const TOUCH = `${NOW_MS}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'e', ARGV[2], 't', now)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`

/** KEYS: a session. Deletes it; answers its owner name ('' when it had none), or false when it was gone. */
const DESTROY = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local owner = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
return owner or ''`

/** How many successor records log-out everywhere follows from one session (renewals a moment apart). */
const MAX_SUCCESSOR_HOPS = 8
/** How many ids past their recorded expiry one log-in checks (the next log-ins check the rest). */
const PRUNE_BATCH = 100
/** Ids per index command (Lua's unpack has a limit). */
const REMOVE_BATCH = 500

interface SessionCommands {
  bffSessionWrite: (session: string, data: string, ownerName: string, ttl: number, expiresAt: number) => Promise<number>
  bffIndexAdd: (index: string, id: string, expiresAt: number, indexTtl: number, batch: number) => Promise<string[]>
  bffIndexRescore: (index: string, ...idsAndPttls: Array<string | number>) => Promise<number>
  bffIndexRead: (index: string) => Promise<string[]>
  bffIndexRemove: (index: string, ...ids: string[]) => Promise<number>
  bffSessionMove: (session: string, successor: string, id: string, successorTtl: number, expectedVersion: number | '') => Promise<[0, string?] | [1, string]>
  bffSessionEnd: (session: string, successor: string, listed: '1' | '0', ...ownerNames: string[]) => Promise<[number, string | null]>
  bffSessionUpdate: (session: string, expected: number, data: string, ttl: number, expiresAt: number) => Promise<number | null>
  bffSessionTouch: (session: string, ttl: number, expiresAt: number) => Promise<number>
  bffSessionDestroy: (session: string) => Promise<string | null>
}

/** One connection to a primary, or a Redis Cluster client (which routes each command by its key). */
export type RedisConnection = Redis | Cluster

export interface RedisSessionStoreOptions {
  /** Prefix of every key, e.g. `ejento-bff:`. */
  prefix: string
  /** The SESSION_SECRET entries: the first names the owner indexes it writes, all are looked in. */
  secrets: readonly string[]
  /** How long an owner's index lives after that owner's latest log-in: the absolute session lifetime. */
  ownerIndexTtlMs: number
  /**
   * Runs after each write of a session record with tokens (create, replace, renew, update),
   * with that session's key, before the store answers: REDIS_WAIT_REPLICAS's WAIT
   * (src/session/replica-wait.ts). Rejecting fails the save as Redis being away does.
   */
  afterTokenSave?: (sessionKey: string) => Promise<void>
  /** The longest one operation of several commands waits (default: the client's commandTimeout and a second). */
  callLimitMs?: number
  now?: () => number
}

const OWNER_NAME_LABEL = 'session-owner/hmac-sha256/v1'
const TRANSIENT_NAME_LABEL = 'transient-record/hmac-sha256/v1'

export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis'
  readonly #redis: RedisConnection & SessionCommands
  readonly #sessionKey: (id: string) => string
  readonly #successorKey: (id: string) => string
  readonly #ownerPrefix: string
  readonly #legacyOwnerPrefix: string
  readonly #ownerNameKeys: Buffer[]
  readonly #transientPrefix: string
  readonly #transientNameKeys: Buffer[]
  readonly #ownerIndexTtlMs: number
  readonly #now: () => number
  readonly #afterTokenSave: (sessionKey: string) => Promise<void>
  readonly #callLimitMs: number
  /** When a failure last made a cluster client read the slots again (see #readSlotsAgain). */
  #slotsReadAt = 0

  constructor (redis: RedisConnection, options: RedisSessionStoreOptions) {
    if (options.secrets.length === 0) throw new Error('RedisSessionStore needs at least one secret')
    this.#sessionKey = sessionKeyNames(options.prefix, 'session:', redis.isCluster)
    this.#successorKey = sessionKeyNames(options.prefix, 'successor:', redis.isCluster)
    if (redis.isCluster && hashTag(this.#sessionKey('id')) !== hashTag(this.#successorKey('id'))) {
      throw new Error(`REDIS_KEY_PREFIX "${options.prefix}" opens a hash tag ("{") that it does not close: on a Redis Cluster a session and its successor record would land in different slots. Drop the braces, or close them ("{name}:", which keeps every key in one slot)`)
    }
    this.#ownerPrefix = `${options.prefix}owner-sessions:`
    this.#legacyOwnerPrefix = `${options.prefix}owner:`
    this.#ownerNameKeys = options.secrets.map((secret) => deriveKey(secret, OWNER_NAME_LABEL))
    this.#transientPrefix = `${options.prefix}transient:`
    this.#transientNameKeys = options.secrets.map((secret) => deriveKey(secret, TRANSIENT_NAME_LABEL))
    this.#ownerIndexTtlMs = options.ownerIndexTtlMs
    this.#now = options.now ?? Date.now
    this.#afterTokenSave = options.afterTokenSave ?? (async () => {})
    this.#redis = redis as RedisConnection & SessionCommands
    // A second beyond one command's timeout: a slow but answering Redis under load stays usable.
    this.#callLimitMs = options.callLimitMs ?? commandTimeoutOf(redis) + 1000
    const scripts: Array<[keyof SessionCommands, number, string]> = [
      ['bffSessionWrite', 1, WRITE_SESSION], ['bffIndexAdd', 1, INDEX_ADD], ['bffIndexRescore', 1, INDEX_RESCORE],
      ['bffIndexRead', 1, INDEX_READ], ['bffIndexRemove', 1, INDEX_REMOVE], ['bffSessionMove', 2, MOVE],
      ['bffSessionEnd', 2, END], ['bffSessionUpdate', 1, UPDATE], ['bffSessionTouch', 1, TOUCH], ['bffSessionDestroy', 1, DESTROY]
    ]
    for (const [name, numberOfKeys, lua] of scripts) redis.defineCommand(name, { numberOfKeys, lua })
  }

  async get (id: string): Promise<StoredSession | null> {
    const [data, version, expiresAt] = await this.#call(async () => await this.#redis.hmget(this.#sessionKey(id), 'd', 'v', 'e'))
    if (data === null || data === undefined) return null
    return { data, version: Number(version), expiresAt: Number(expiresAt) }
  }

  /** The session first, then its index entry: the index never names a session yet to be written. */
  async create (id: string, owner: string, data: string, ttlMs: number): Promise<number> {
    const ownerName = this.#ownerName(owner)
    await this.#steps(async () => {
      const expiresAt = await this.#write(id, ownerName, data, ttlMs)
      await this.#index(ownerName, id, expiresAt)
      await this.#afterTokenSave(this.#sessionKey(id))
    })
    return 1
  }

  /**
   * The new session is written, then the previous one moved to it (unless another log-in with
   * that cookie moved it first: this one's session is deleted and that one's id answered), then
   * the new one indexed, before its cookie is handed out. A log-in racing log-out everywhere may
   * survive it, as it would have a moment later.
   */
  async replace (previousId: string, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<{ created: number } | { successor: string }> {
    const ownerName = this.#ownerName(owner)
    return await this.#steps(async () => {
      const expiresAt = await this.#write(id, ownerName, data, ttlMs)
      const [moved, detail] = await this.#redis.bffSessionMove(this.#sessionKey(previousId), this.#successorKey(previousId), id, successorTtlMs, '')
      if (moved === 0) {
        // Best effort: a session left behind has an id nobody was given, and expires.
        await this.#redis.del(this.#sessionKey(id)).catch(() => {})
        return { successor: detail as string }
      }
      await this.#index(ownerName, id, expiresAt)
      await this.#unindex(detail, previousId)
      await this.#afterTokenSave(this.#sessionKey(id))
      return { created: 1 }
    })
  }

  /**
   * The new session and its index entry first, then the compare-and-set that moves the previous
   * session to it; a lost compare-and-set takes the new session back.
   */
  async renew (previousId: string, expectedVersion: number, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<number | null> {
    const ownerName = this.#ownerName(owner)
    return await this.#steps(async () => {
      const expiresAt = await this.#write(id, ownerName, data, ttlMs)
      await this.#index(ownerName, id, expiresAt)
      const [moved, previousOwner] = await this.#redis.bffSessionMove(this.#sessionKey(previousId), this.#successorKey(previousId), id, successorTtlMs, expectedVersion)
      if (moved === 1) {
        await this.#unindex(previousOwner, previousId)
        await this.#afterTokenSave(this.#sessionKey(id))
        return 1
      }
      // Best effort: a session left behind has an id nobody was given, and expires.
      await this.#redis.del(this.#sessionKey(id)).catch(() => {})
      await this.#unindex(ownerName, id).catch(() => {})
      return null
    })
  }

  async successorOf (id: string): Promise<string | null> {
    return await this.#call(async () => await this.#redis.get(this.#successorKey(id)))
  }

  async update (id: string, expectedVersion: number, data: string, ttlMs: number): Promise<number | null> {
    const version = await this.#steps(async () => {
      const written = await this.#redis.bffSessionUpdate(this.#sessionKey(id), expectedVersion, data, ttlMs, this.#now() + ttlMs)
      if (written !== null) await this.#afterTokenSave(this.#sessionKey(id))
      return written
    })
    return version === null ? null : Number(version)
  }

  async touch (id: string, ttlMs: number): Promise<boolean> {
    return (await this.#call(async () => await this.#redis.bffSessionTouch(this.#sessionKey(id), ttlMs, this.#now() + ttlMs))) === 1
  }

  /** The session ends at once; its index entry goes after (the index may name an ended session a moment, never miss a live one). */
  async destroy (id: string): Promise<void> {
    await this.#steps(async () => {
      const owner = await this.#redis.bffSessionDestroy(this.#sessionKey(id))
      await this.#unindex(owner, id)
    })
  }

  /**
   * Ends the sessions in the owner's index under every secret (during a rotation, instances
   * with different first secrets write different indexes), and in the set that versions
   * before keyed indexes wrote, which lasts until their sessions have ended (SESSION_MAX_AGE).
   * Each session ends in a script of its own, which also answers its successor record: a
   * renewal that moved it meanwhile is followed to its new session, which ends too. Then the
   * ended ids leave the indexes; ids added meanwhile (log-ins racing this) stay indexed.
   */
  async destroyOwner (owner: string, exceptId = ''): Promise<number> {
    const indexes = this.#ownerIndexes(owner)
    const names = this.#ownerNames(owner)
    return await this.#call(async () => {
      const listed = await Promise.all(indexes.map(async (index) => await this.#redis.bffIndexRead(index)))
      const ids = [...new Set(listed.flat())].filter((id) => id !== exceptId)
      // Each session is ended once, by whichever chain reaches it first; the kept one never.
      const reached = new Set<string>([exceptId, ...ids])
      const counts = await Promise.all(ids.map(async (id) => await this.#endWithSuccessors(id, names, reached)))
      await Promise.all(indexes.map(async (index, position) => {
        const over = (listed[position] as string[]).filter((id) => id !== exceptId)
        for (let start = 0; start < over.length; start += REMOVE_BATCH) {
          await this.#redis.bffIndexRemove(index, ...over.slice(start, start + REMOVE_BATCH))
        }
      }))
      return counts.reduce((sum, count) => sum + count, 0)
    })
  }

  async listOwner (owner: string): Promise<OwnedSession[]> {
    const indexes = this.#ownerIndexes(owner)
    return await this.#call(async () => {
      const ids = [...new Set((await Promise.all(indexes.map(async (index) => await this.#redis.bffIndexRead(index)))).flat())]
      const sessions = await Promise.all(ids.map(async (id) => {
        const [data, expiresAt, touchedAt] = await this.#redis.hmget(this.#sessionKey(id), 'd', 'e', 't')
        return data === null || data === undefined ? undefined : { id, data, expiresAt: Number(expiresAt ?? 0), touchedAt: Number(touchedAt ?? 0) }
      }))
      return sessions.filter((session) => session !== undefined)
    })
  }

  /** Ends a listed session, then each successor that renewals or log-ins moved it to while it is the owner's; answers how many ended. */
  async #endWithSuccessors (id: string, ownerNames: string[], reached: Set<string>): Promise<number> {
    let ended = 0
    let current = id
    for (let hop = 0; hop <= MAX_SUCCESSOR_HOPS; hop++) {
      const [deleted, successor] = await this.#redis.bffSessionEnd(this.#sessionKey(current), this.#successorKey(current), hop === 0 ? '1' : '0', ...ownerNames)
      // Another user's live session (they logged in with this browser's cookie): not ours to end.
      if (deleted === -1) break
      ended += deleted
      if (successor === null || successor === undefined || reached.has(successor)) break
      reached.add(successor)
      current = successor
    }
    return ended
  }

  /** Writes a new session; answers when its server will expire it. */
  async #write (id: string, ownerName: string, data: string, ttlMs: number): Promise<number> {
    return await this.#redis.bffSessionWrite(this.#sessionKey(id), data, ownerName, ttlMs, this.#now() + ttlMs)
  }

  /**
   * Adds a session that exists to its owner's index, scored by when its server expires it, and
   * drops the ids of sessions found over.
   */
  async #index (ownerName: string, id: string, expiresAt: number): Promise<void> {
    const index = this.#ownerPrefix + ownerName
    const due = await this.#redis.bffIndexAdd(index, id, expiresAt, this.#ownerIndexTtlMs, PRUNE_BATCH)
    if (due.length === 0) return
    const pttls = await Promise.all(due.map(async (dueId) => await this.#redis.pttl(this.#sessionKey(dueId))))
    await this.#redis.bffIndexRescore(index, ...due.flatMap((dueId, position) => [dueId, pttls[position] as number]))
  }

  /** Takes an ended session's id out of the index its owner name names (hygiene: the next log-in would). */
  async #unindex (ownerName: string | null | undefined, id: string): Promise<void> {
    if (ownerName === undefined || ownerName === null || ownerName === '') return
    await this.#redis.zrem(this.#ownerPrefix + ownerName, id)
  }

  #ownerName (owner: string): string {
    return keyedName(this.#ownerNameKeys[0] as Buffer, owner)
  }

  /** Every name an owner's sessions may carry in `o`: keyed under each secret, and the plain hash of versions before. */
  #ownerNames (owner: string): string[] {
    return [...this.#ownerNameKeys.map((key) => keyedName(key, owner)), plainOwnerHash(owner)]
  }

  /**
   * The owner's index under every secret (during a rotation, instances with different first
   * secrets write different indexes), and the set that versions before keyed indexes wrote,
   * which lasts until their sessions have ended (SESSION_MAX_AGE).
   */
  #ownerIndexes (owner: string): string[] {
    return [
      ...this.#ownerNameKeys.map((key) => this.#ownerPrefix + keyedName(key, owner)),
      this.#legacyOwnerPrefix + plainOwnerHash(owner)
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

  /**
   * One primary answers PING. On a cluster every primary that the client's slot map names must
   * answer (each holds a share of the sessions; one that went away stays named until its replica
   * took over), and the cluster must say its state is ok (a node answers PING while its cluster
   * refuses every command that names a key).
   */
  async ping (): Promise<void> {
    await this.#steps(async () => {
      // On a cluster this one goes to any node, once the client knows the slots.
      await this.#redis.ping()
      if (!(this.#redis instanceof Cluster)) return
      const connected = new Map(this.#redis.nodes('master').map((node) => [`${node.options.host ?? ''}:${node.options.port ?? ''}`, node]))
      const uncovered = uncoveredSlots(this.#redis)
      if (uncovered === CLUSTER_SLOTS) throw new Error('the cluster\'s slots are not known yet')
      // Sessions in those slots answer 503 (with cluster-require-full-coverage no, the others work).
      if (uncovered > 0) throw new Error(`${uncovered} of ${CLUSTER_SLOTS} hash slots are served by no primary`)
      // The slot map may name a primary that is gone while its replica already took over: a
      // failed check reads the slots again (#steps), so that the next probe sees the cluster as it is.
      const named = new Set(this.#redis.slots.map((owners) => owners[0]))
      await Promise.all([...named].map(async (key) => {
        const primary = connected.get(key as string)
        if (primary === undefined) throw new Error(`no connection to the primary ${key as string}`)
        await primary.ping()
      }))
      const info = await (connected.get([...named][0] as string) as Redis).cluster('INFO')
      if (!/^cluster_state:ok\r?$/m.test(info)) throw new Error('the cluster state is not ok')
    })
  }

  /** The client belongs to the app, which closes it; nothing to release here. */
  async close (): Promise<void> {}

  /** One command: its own timeout (the client's commandTimeout) bounds it. */
  async #call<T> (command: () => Promise<T>): Promise<T> {
    try {
      return await command()
    } catch (error) {
      this.#readSlotsAgain()
      throw redisUnavailable(error)
    }
  }

  /**
   * On a cluster, a failed command may have gone to a primary the cluster has replaced (frozen,
   * not dead: its connection stays open, so ioredis, which reads the slots again on a MOVED or a
   * closed connection only, would keep sending there until its 5 s timer). Read them now, at most
   * once a second: the next request goes to the promoted replica.
   */
  #readSlotsAgain (): void {
    if (!(this.#redis instanceof Cluster)) return
    const now = Date.now()
    if (now - this.#slotsReadAt < 1000) return
    this.#slotsReadAt = now
    this.#redis.refreshSlotsCache()
  }

  /**
   * Several commands in a row (a log-in's write, index and WAIT; log-out everywhere): each has
   * its own timeout, but a primary that stops answering (frozen, a network partition) would
   * make the request wait for one timeout per command, and best-effort steps that swallow
   * theirs even longer. The whole operation gets one command's time and a second: past it the request
   * answers 503 store_unavailable (the commands may still land, as after any timeout).
   */
  async #steps<T> (steps: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const over = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`no answer within ${this.#callLimitMs} ms`)) }, this.#callLimitMs)
    })
    const running = steps()
    // Its own failure after the deadline is no one's to report.
    running.catch(() => {})
    try {
      return await Promise.race([running, over])
    } catch (error) {
      this.#readSlotsAgain()
      throw redisUnavailable(error)
    } finally {
      clearTimeout(timer)
    }
  }
}

/**
 * How a session's keys are named: `<prefix>session:<id>` as ever on one primary (sessions
 * written before this version stay valid); on a cluster the id is the hash tag,
 * `<prefix>session:{<id>}`, so that a session and its successor record share a slot. Ids are
 * base64url and never hold a brace.
 */
export function sessionKeyNames (prefix: string, kind: string, cluster: boolean): (id: string) => string {
  return cluster ? (id) => `${prefix}${kind}{${id}}` : (id) => `${prefix}${kind}${id}`
}

/** What Redis Cluster hashes of a key: the text of its first `{...}` when not empty, else the whole key. */
export function hashTag (key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close)
}

/** The hash slot of a key: CRC16 (XMODEM) of its hash tag, modulo the slots (the Redis Cluster specification). */
export function keySlot (key: string): number {
  let crc = 0
  for (const byte of Buffer.from(hashTag(key))) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = (crc & 0x8000) !== 0 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % CLUSTER_SLOTS
}

/** Redis Cluster's hash slots. */
export const CLUSTER_SLOTS = 16_384

/** How many hash slots the cluster client knows no primary for. */
export function uncoveredSlots (cluster: Cluster): number {
  let uncovered = 0
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) if ((cluster.slots[slot]?.[0] ?? '') === '') uncovered++
  return uncovered
}

/** The client's own per-command timeout (src/redis.ts sets it in every mode). */
function commandTimeoutOf (redis: RedisConnection): number {
  const options = redis instanceof Cluster ? redis.options.redisOptions : redis.options
  return options?.commandTimeout ?? 2000
}

/** How versions before keyed indexes named an owner: an unsalted hash (kept to find their sessions until they end). */
function plainOwnerHash (owner: string): string {
  return createHash('sha256').update(owner).digest('base64url').slice(0, 22)
}
