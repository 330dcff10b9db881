import type { SessionStore, StoredSession } from './store.js'

interface Entry extends StoredSession {
  owner: string
}

const SWEEP_INTERVAL_MS = 30_000

/**
 * The default, in-process store: bounded by a maximum count (the least recently active
 * session is evicted first) and by each session's TTL. A Map keeps entries in the order
 * they were last written or touched, which is exactly eviction order.
 */
export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory'
  readonly #entries = new Map<string, Entry>()
  /** Which session replaced which at log-in, for a short while (see SessionStore.replace). */
  readonly #successors = new Map<string, { id: string, expiresAt: number }>()
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

  async get (id: string): Promise<StoredSession | null> {
    const entry = this.#live(id)
    return entry === undefined ? null : { data: entry.data, version: entry.version, expiresAt: entry.expiresAt }
  }

  async create (id: string, owner: string, data: string, ttlMs: number): Promise<number> {
    this.#entries.delete(id)
    while (this.#entries.size >= this.#maxCount) {
      const oldest = this.#entries.keys().next().value as string
      this.#entries.delete(oldest)
    }
    this.#entries.set(id, { data, owner, version: 1, expiresAt: this.#now() + ttlMs })
    return 1
  }

  async replace (previousId: string, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<{ created: number } | { successor: string }> {
    const successor = this.#successors.get(previousId)
    if (successor !== undefined && successor.expiresAt > this.#now()) return { successor: successor.id }
    this.#entries.delete(previousId)
    this.#successors.set(previousId, { id, expiresAt: this.#now() + successorTtlMs })
    return { created: await this.create(id, owner, data, ttlMs) }
  }

  async update (id: string, expectedVersion: number, data: string, ttlMs: number): Promise<number | null> {
    const entry = this.#live(id)
    if (entry === undefined || entry.version !== expectedVersion) return null
    entry.data = data
    entry.version += 1
    entry.expiresAt = this.#now() + ttlMs
    this.#moveToEnd(id, entry)
    return entry.version
  }

  async touch (id: string, ttlMs: number): Promise<boolean> {
    const entry = this.#live(id)
    if (entry === undefined) return false
    entry.expiresAt = this.#now() + ttlMs
    this.#moveToEnd(id, entry)
    return true
  }

  async destroy (id: string): Promise<void> {
    this.#entries.delete(id)
  }

  async destroyOwner (owner: string): Promise<number> {
    let ended = 0
    for (const [id, entry] of this.#entries) {
      if (entry.owner === owner) {
        this.#entries.delete(id)
        ended += 1
      }
    }
    return ended
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
    this.#entries.clear()
    this.#successors.clear()
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
      if (entry.expiresAt <= now) this.#entries.delete(id)
    }
    for (const [id, successor] of this.#successors) {
      if (successor.expiresAt <= now) this.#successors.delete(id)
    }
  }

  #live (id: string): Entry | undefined {
    const entry = this.#entries.get(id)
    if (entry !== undefined && entry.expiresAt <= this.#now()) {
      this.#entries.delete(id)
      return undefined
    }
    return entry
  }

  #moveToEnd (id: string, entry: Entry): void {
    this.#entries.delete(id)
    this.#entries.set(id, entry)
  }
}
