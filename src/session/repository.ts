import type { SessionCipher } from './cipher.js'
import { ownerOf, parseRecord, serialiseRecord } from './record.js'
import type { SessionRecord } from './record.js'
import type { SessionStore } from './store.js'

/**
 * How long a log-in's (or a renewal's) replacement of the browser's previous session is
 * remembered: concurrent log-ins with that cookie join it, and requests with it keep the cookie.
 */
const SUCCESSOR_TTL_MS = 60_000

export interface SessionLifetimes {
  /** A session unused this long ends. */
  idleTimeoutMs: number
  /** A session ends this long after log-in, used or not. */
  maxAgeMs: number
}

export interface LoadedSession {
  record: SessionRecord
  version: number
  expiresAt: number
}

/**
 * Sessions as records: encrypts before a store sees them, decrypts after, and applies the
 * idle and absolute lifetimes. Writes are compare-and-set on the record's version, so that
 * no stale copy ever overwrites fresher tokens or revives a logged-out session.
 */
export class SessionRepository {
  readonly store: SessionStore
  readonly lifetimes: SessionLifetimes
  readonly #cipher: SessionCipher
  readonly #now: () => number

  constructor (store: SessionStore, cipher: SessionCipher, lifetimes: SessionLifetimes, now: () => number = Date.now) {
    this.store = store
    this.#cipher = cipher
    this.lifetimes = lifetimes
    this.#now = now
  }

  async load (id: string): Promise<LoadedSession | null> {
    const stored = await this.store.get(id)
    if (stored === null) return null
    const plaintext = this.#cipher.decrypt(stored.data, id)
    const record = plaintext === null ? null : parseRecord(plaintext)
    // Unreadable (a retired secret, a foreign record) or past its absolute lifetime: no session.
    if (record === null || this.absoluteExpiry(record) <= this.#now()) return null
    return { record, version: stored.version, expiresAt: stored.expiresAt }
  }

  async create (id: string, record: SessionRecord): Promise<LoadedSession> {
    const ttl = this.#ttl(record)
    const version = await this.store.create(id, ownerOf(record.user), this.#cipher.encrypt(serialiseRecord(record), id), ttl)
    return { record, version, expiresAt: this.#now() + ttl }
  }

  /**
   * A log-in by a browser that presented `previousId`: that session ends and `id` starts, in one
   * step; or, when a concurrent log-in with the same cookie already did so, the id it started.
   */
  async replace (previousId: string, id: string, record: SessionRecord): Promise<LoadedSession | { successor: string }> {
    const ttl = this.#ttl(record)
    const outcome = await this.store.replace(previousId, id, ownerOf(record.user), this.#cipher.encrypt(serialiseRecord(record), id), ttl, SUCCESSOR_TTL_MS)
    if ('successor' in outcome) return outcome
    return { record, version: outcome.created, expiresAt: this.#now() + ttl }
  }

  /**
   * Moves session `previousId` (at `expectedVersion`) to the new id `id`, in one step; null when
   * it was written meanwhile or is gone. The old id is remembered as replaced, as a log-in's is.
   */
  async renew (previousId: string, expectedVersion: number, id: string, record: SessionRecord): Promise<LoadedSession | null> {
    const ttl = this.#ttl(record)
    const version = await this.store.renew(previousId, expectedVersion, id, ownerOf(record.user), this.#cipher.encrypt(serialiseRecord(record), id), ttl, SUCCESSOR_TTL_MS)
    return version === null ? null : { record, version, expiresAt: this.#now() + ttl }
  }

  /** The id a log-in or a renewal moved session `id` to moments ago, or null. */
  async successorOf (id: string): Promise<string | null> {
    return await this.store.successorOf(id)
  }

  /** Writes only over `expectedVersion`; null when the session changed meanwhile or is gone. */
  async update (id: string, expectedVersion: number, record: SessionRecord): Promise<LoadedSession | null> {
    const ttl = this.#ttl(record)
    const version = await this.store.update(id, expectedVersion, this.#cipher.encrypt(serialiseRecord(record), id), ttl)
    return version === null ? null : { record, version, expiresAt: this.#now() + ttl }
  }

  /**
   * Extends the idle lifetime, at most about once a minute per session, so that an
   * active session costs no store write on almost every request. Answers the new expiry.
   */
  async touchIfDue (id: string, record: SessionRecord, expiresAt: number): Promise<number> {
    const ttl = this.#ttl(record)
    const wanted = this.#now() + ttl
    if (wanted - expiresAt < this.#touchIntervalMs()) return expiresAt
    return (await this.store.touch(id, ttl)) ? wanted : expiresAt
  }

  async destroy (id: string): Promise<void> {
    await this.store.destroy(id)
  }

  /** Ends every session of the record's user, but `exceptId` when given; answers how many ended. */
  async destroyOwner (record: SessionRecord, exceptId?: string): Promise<number> {
    return await this.store.destroyOwner(ownerOf(record.user), exceptId)
  }

  /** Ends every session of the user with these upstream ids (spellings of one id) and, when known, this email (sessions without an id are keyed by email). */
  async destroyUser (user: { ids: readonly string[], email?: string }): Promise<number> {
    let ended = 0
    for (const id of new Set(user.ids)) ended += await this.store.destroyOwner(ownerOf({ id, email: '' }))
    if (user.email !== undefined) ended += await this.store.destroyOwner(ownerOf({ email: user.email }))
    return ended
  }

  /** The live, readable sessions of the record's user. */
  async listOwner (record: SessionRecord): Promise<Array<{ id: string, record: SessionRecord, touchedAt: number }>> {
    const now = this.#now()
    const sessions: Array<{ id: string, record: SessionRecord, touchedAt: number }> = []
    for (const stored of await this.store.listOwner(ownerOf(record.user))) {
      const plaintext = this.#cipher.decrypt(stored.data, stored.id)
      const owned = plaintext === null ? null : parseRecord(plaintext)
      if (owned !== null && this.absoluteExpiry(owned) > now) sessions.push({ id: stored.id, record: owned, touchedAt: stored.touchedAt })
    }
    return sessions
  }

  absoluteExpiry (record: SessionRecord): number {
    return record.createdAt + this.lifetimes.maxAgeMs
  }

  /** How long the store keeps the session from now: the idle timeout, capped by the absolute lifetime. */
  #ttl (record: SessionRecord): number {
    return Math.max(1, Math.min(this.lifetimes.idleTimeoutMs, this.absoluteExpiry(record) - this.#now()))
  }

  #touchIntervalMs (): number {
    return Math.min(60_000, Math.ceil(this.lifetimes.idleTimeoutMs / 10))
  }
}
