/**
 * Where sessions live. A store keeps opaque, already encrypted records; it never sees a token.
 * The in-process store and the Redis store implement this; routes never talk to a store directly.
 */
export interface StoredSession {
  /** The encrypted session record. */
  data: string
  /** Bumped on every write; writers compare it so that no stale copy overwrites a fresher one. */
  version: number
  /** When the store forgets the session (idle timeout or absolute lifetime, whichever is first). */
  expiresAt: number
}

/** One of an owner's sessions, as the list of a user's sessions needs it. */
export interface OwnedSession {
  id: string
  /** The encrypted session record. */
  data: string
  expiresAt: number
  /** When it was created, last written or last touched (at most a minute behind its last use). */
  touchedAt: number
}

export interface SessionStore {
  readonly kind: string
  get (id: string): Promise<StoredSession | null>
  /** Creates (or replaces) a session owned by `owner`; answers its version. */
  create (id: string, owner: string, data: string, ttlMs: number): Promise<number>
  /**
   * A log-in from a browser that presented session `previousId`, in one atomic step: when no
   * other log-in has replaced `previousId` in the last `successorTtlMs`, ends it (if it still
   * exists), creates `id` and records `id` as its successor (`{ created: 1 }`, the version).
   * Otherwise creates nothing and answers that successor, so that concurrent log-ins sent with
   * one cookie end up in one session instead of leaving orphans.
   */
  replace (previousId: string, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<{ created: number } | { successor: string }>
  /**
   * Moves session `previousId` to the new id `id` (a renewal) in one atomic step, only while its
   * version is still `expectedVersion`: ends it, records `id` as its successor for
   * `successorTtlMs` (as a log-in does), and creates `id` with `data`. Answers the new version, or
   * null when the session was written meanwhile or is gone.
   */
  renew (previousId: string, expectedVersion: number, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<number | null>
  /** The id a log-in or a renewal moved session `id` to, while that is remembered; null otherwise. */
  successorOf (id: string): Promise<string | null>
  /**
   * Replaces the record only if its version is still `expectedVersion`.
   * Answers the new version, or null when another writer got there first or the session is gone.
   */
  update (id: string, expectedVersion: number, data: string, ttlMs: number): Promise<number | null>
  /** Extends the lifetime without rewriting the record; false when the session is gone. */
  touch (id: string, ttlMs: number): Promise<boolean>
  destroy (id: string): Promise<void>
  /** Ends every session of one owner (but `exceptId`, when given); answers how many ended. */
  destroyOwner (owner: string, exceptId?: string): Promise<number>
  /** The owner's live sessions, in no particular order. */
  listOwner (owner: string): Promise<OwnedSession[]>
  /**
   * Transient records: short-lived, already sealed data under a caller's key (a log-in under way
   * between its start and its end, on any instance). Stored beside the sessions, with their own
   * TTL; a key is only ever named to the store, never shown (Redis names it with an HMAC).
   * `putTransient` replaces what the key held.
   */
  putTransient (key: string, data: string, ttlMs: number): Promise<void>
  getTransient (key: string): Promise<string | null>
  /** Reads and removes in one atomic step: of concurrent takers, exactly one gets the record. */
  takeTransient (key: string): Promise<string | null>
  deleteTransient (key: string): Promise<void>
  /** Resolves when the store answers; rejects otherwise (readiness). */
  ping (): Promise<void>
  close (): Promise<void>
}

/** The store could not be reached or failed; answered as 503 `store_unavailable`, never as a log-out. */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}

/**
 * A Redis client's failure, as the store reports it. The client's own words stay in `cause`
 * only: the log's error serializer adds a cause's message to the error's, so repeating it here
 * logged it twice ("Redis: Stream isn't writeable...: Stream isn't writeable...").
 */
export function redisUnavailable (error: unknown): StoreUnavailableError {
  return new StoreUnavailableError('Redis does not answer', { cause: error })
}
