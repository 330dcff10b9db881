import type { OwnedSession, SessionStore, StoredSession } from './store.js'

interface Entry extends StoredSession {
  owner: string
  touchedAt: number
}

const SWEEP_INTERVAL_MS = 30_000

/**
 * The default, in-process store: bounded by a maximum count (the least recently active
 * session is evicted first) and by each session's TTL. A Map keeps entries in the order
 * they were last written or touched, which is exactly eviction order. An index of each
 * owner's session ids serves "log out everywhere" and the user's list of sessions; every
 * removal (log-out, expiry, eviction) goes through one place that keeps it in step.
 */
export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory'
  readonly #entries = new Map<string, Entry>()
  readonly #owners = new Map<string, Set<string>>()
  /** Which session replaced which at log-in, for a short while (see SessionStore.replace). */
  readonly #successors = new Map<string, { id: string, expiresAt: number }>()
  /** Transient records, in the order they were written: oldest evicted first past the maximum count. */
  readonly #transient = new Map<string, { data: string, expiresAt: number }>()
  readonly #maxCount: number
  readonly #now: () => number
  readonly #sweeper: NodeJS.Timeout

  constructor (options: { maxCount: number, now?: () => number }) {
    this.#maxCount = options.maxCount
    this.#now = options.now ?? Date.now
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref()
  }

  get size (): number {
    return this.#entries.size
  }

  /** How many owners the index holds (tests: it must not outgrow the sessions). */
  get ownerCount (): number {
    return this.#owners.size
  }

  /** How many transient records it holds, expired ones not yet swept included (tests). */
  get transientCount (): number {
    return this.#transient.size
  }

  async get (id: string): Promise<StoredSession | null> {
    const entry = this.#live(id)
    return entry === undefined ? null : { data: entry.data, version: entry.version, expiresAt: entry.expiresAt }
  }

  async create (id: string, owner: string, data: string, ttlMs: number): Promise<number> {
    this.#remove(id)
    while (this.#entries.size >= this.#maxCount) this.#remove(this.#entries.keys().next().value as string)
    const now = this.#now()
    this.#entries.set(id, { data, owner, version: 1, expiresAt: now + ttlMs, touchedAt: now })
    let ids = this.#owners.get(owner)
    if (ids === undefined) this.#owners.set(owner, ids = new Set())
    ids.add(id)
    return 1
  }

  async replace (previousId: string, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<{ created: number } | { successor: string }> {
    const successor = this.#successors.get(previousId)
    if (successor !== undefined && successor.expiresAt > this.#now()) return { successor: successor.id }
    this.#remove(previousId)
    this.#successors.set(previousId, { id, expiresAt: this.#now() + successorTtlMs })
    return { created: await this.create(id, owner, data, ttlMs) }
  }

  async renew (previousId: string, expectedVersion: number, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<number | null> {
    if (this.#live(previousId)?.version !== expectedVersion) return null
    this.#remove(previousId)
    this.#successors.set(previousId, { id, expiresAt: this.#now() + successorTtlMs })
    return await this.create(id, owner, data, ttlMs)
  }

  async successorOf (id: string): Promise<string | null> {
    const successor = this.#successors.get(id)
    return successor !== undefined && successor.expiresAt > this.#now() ? successor.id : null
  }

  async update (id: string, expectedVersion: number, data: string, ttlMs: number): Promise<number | null> {
    const entry = this.#live(id)
    if (entry === undefined || entry.version !== expectedVersion) return null
    entry.data = data
    entry.version += 1
    entry.touchedAt = this.#now()
    entry.expiresAt = entry.touchedAt + ttlMs
    this.#moveToEnd(id, entry)
    return entry.version
  }

  async touch (id: string, ttlMs: number): Promise<boolean> {
    const entry = this.#live(id)
    if (entry === undefined) return false
    entry.touchedAt = this.#now()
    entry.expiresAt = entry.touchedAt + ttlMs
    this.#moveToEnd(id, entry)
    return true
  }

  async destroy (id: string): Promise<void> {
    this.#remove(id)
  }

  async destroyOwner (owner: string, exceptId?: string): Promise<number> {
    let ended = 0
    for (const id of [...this.#owners.get(owner) ?? []]) {
      if (id === exceptId) continue
      if (this.#live(id) !== undefined) ended += 1
      this.#remove(id)
    }
    return ended
  }

  async listOwner (owner: string): Promise<OwnedSession[]> {
    const sessions: OwnedSession[] = []
    for (const id of [...this.#owners.get(owner) ?? []]) {
      const entry = this.#live(id)
      if (entry !== undefined) sessions.push({ id, data: entry.data, expiresAt: entry.expiresAt, touchedAt: entry.touchedAt })
    }
    return sessions
  }

  async putTransient (key: string, data: string, ttlMs: number): Promise<void> {
    this.#transient.delete(key)
    // Bounded like the sessions: anyone may start a log-in, so these could otherwise grow without end.
    while (this.#transient.size >= this.#maxCount) this.#transient.delete(this.#transient.keys().next().value as string)
    this.#transient.set(key, { data, expiresAt: this.#now() + ttlMs })
  }

  async getTransient (key: string): Promise<string | null> {
    return this.#liveTransient(key)
  }

  /** No await between the read and the delete: concurrent takers cannot both read the record. */
  async takeTransient (key: string): Promise<string | null> {
    const data = this.#liveTransient(key)
    this.#transient.delete(key)
    return data
  }

  async deleteTransient (key: string): Promise<void> {
    this.#transient.delete(key)
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
    this.#entries.clear()
    this.#owners.clear()
    this.#successors.clear()
    this.#transient.clear()
  }

  /**
   * Drops every expired session. The whole map is scanned: a session's expiry is the earlier of
   * its idle timeout and its absolute lifetime, so activity order is not expiry order (a
   * session near its maximum age expires before an idle one touched earlier).
   * 100,000 sessions take a few milliseconds, every 30 s.
   */
  sweep (): void {
    const now = this.#now()
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#remove(id)
    }
    for (const [id, successor] of this.#successors) {
      if (successor.expiresAt <= now) this.#successors.delete(id)
    }
    for (const [key, record] of this.#transient) {
      if (record.expiresAt <= now) this.#transient.delete(key)
    }
  }

  #liveTransient (key: string): string | null {
    const record = this.#transient.get(key)
    if (record === undefined) return null
    if (record.expiresAt > this.#now()) return record.data
    this.#transient.delete(key)
    return null
  }

  #live (id: string): Entry | undefined {
    const entry = this.#entries.get(id)
    if (entry !== undefined && entry.expiresAt <= this.#now()) {
      this.#remove(id)
      return undefined
    }
    return entry
  }

  /** The one way out of the store, so that the owner index never keeps an id its session lost. */
  #remove (id: string): void {
    const entry = this.#entries.get(id)
    if (entry === undefined) return
    this.#entries.delete(id)
    const ids = this.#owners.get(entry.owner)
    ids?.delete(id)
    if (ids?.size === 0) this.#owners.delete(entry.owner)
  }

  #moveToEnd (id: string, entry: Entry): void {
    this.#entries.delete(id)
    this.#entries.set(id, entry)
  }
}
