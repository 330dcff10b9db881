import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { TokenSet } from '../tokens/token-set.js'
import type { LoadedSession, SessionRepository } from './repository.js'
import { StoreUnavailableError } from './store.js'

const FIRST_RETRY_MS = 250
const LONGEST_RETRY_MS = 2000
/** Retries while shutting down come closer together: the process is waiting on them. */
const LONGEST_FLUSH_RETRY_MS = 1000

export interface PendingTokensOptions {
  sessions: SessionRepository
  /** At most this many sessions' tokens are kept at once; past it the oldest are given up (and logged). */
  maxEntries?: number
  /** Told when a session's kept tokens are settled: saved, superseded, or given up. */
  onSettled?: (sessionId: string, how: PendingOutcome) => void
}

/** How kept tokens ended: saved late, made obsolete by a newer write or the session's end, or given up. */
export type PendingOutcome = 'saved' | 'superseded' | 'ended' | 'lost'

interface Entry {
  /** The fresh tokens, sealed with this process's key. */
  sealed: Buffer
  /** The auth-app token they replace: a caller still holding it gets them instead. */
  replaces: string
  base: LoadedSession
  /** The session cannot live past this; nor can the attempt to save it. */
  until: number
  log: FastifyBaseLogger
  since: number
  timer: NodeJS.Timeout | undefined
  attempts: number
}

/**
 * Fresh tokens that a refresh obtained but could not store yet (the store was unavailable).
 * The upstream has already revoked the old token, so dropping these would log the user out:
 * they are kept in memory, sealed (AES-256-GCM under a key that never leaves this process),
 * handed to this instance's requests of the session meanwhile, and written on every retry until
 * the store takes them, a newer write supersedes them, or the session ends.
 */
export class PendingTokens {
  readonly #options: PendingTokensOptions
  readonly #entries = new Map<string, Entry>()
  readonly #key = randomBytes(32)
  readonly #maxEntries: number

  constructor (options: PendingTokensOptions) {
    this.#options = options
    this.#maxEntries = options.maxEntries ?? 10_000
  }

  get size (): number {
    return this.#entries.size
  }

  /** Keeps `fresh` for `sessionId` and retries writing it over `base` until the store takes it. */
  keep (sessionId: string, fresh: TokenSet, replaces: string, base: LoadedSession, log: FastifyBaseLogger): void {
    this.#drop(sessionId)
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string
      this.#entries.get(oldest)?.log.error({ refresh: 'lost', pendingTokens: this.#entries.size }, 'too many unsaved token sets: the oldest is given up (its session will end)')
      this.#settle(oldest, 'lost')
    }
    const until = this.#options.sessions.absoluteExpiry(base.record)
    const entry: Entry = { sealed: this.#seal(fresh), replaces, base, until, log, since: Date.now(), timer: undefined, attempts: 0 }
    this.#entries.set(sessionId, entry)
    this.#schedule(sessionId, entry)
  }

  /** The kept tokens of `sessionId` when they replace `authToken` (what the caller read from the store). */
  replacing (sessionId: string, authToken: string): TokenSet | undefined {
    if (this.#entries.size === 0) return undefined
    const entry = this.#entries.get(sessionId)
    return entry?.replaces === authToken ? this.#open(entry.sealed) : undefined
  }

  /**
   * On shutdown: every kept set is written, retried until `until` (a store in the middle of a
   * fail-over comes back within seconds, and the grace period is there for that); what still
   * fails then is logged as lost.
   */
  async flush (until = Date.now()): Promise<void> {
    await Promise.all([...this.#entries.keys()].map(async (sessionId) => {
      const entry = this.#entries.get(sessionId)
      if (entry === undefined) return
      clearTimeout(entry.timer)
      for (let wait = FIRST_RETRY_MS; ; wait = Math.min(LONGEST_FLUSH_RETRY_MS, wait * 2)) {
        if (await this.#attempt(sessionId, entry)) return
        if (this.#entries.get(sessionId) !== entry || Date.now() + wait >= until) break
        await new Promise((resolve) => setTimeout(resolve, wait))
      }
      if (this.#entries.get(sessionId) !== entry) return
      entry.log.error({ refresh: 'lost', pendingMs: Date.now() - entry.since }, 'shutting down with fresh tokens the store never took: this session will end')
      this.#settle(sessionId, 'lost')
    }))
  }

  #schedule (sessionId: string, entry: Entry): void {
    const delay = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(entry.attempts, 4))
    entry.timer = setTimeout(() => {
      this.#attempt(sessionId, entry).then((done) => {
        if (done || this.#entries.get(sessionId) !== entry) return
        if (Date.now() >= entry.until) {
          entry.log.error({ refresh: 'lost', pendingMs: Date.now() - entry.since }, 'the session reached its end before the store took its fresh tokens')
          this.#settle(sessionId, 'lost')
          return
        }
        this.#schedule(sessionId, entry)
      }, () => {})
    }, delay)
    entry.timer.unref()
  }

  /** Tries to store the kept tokens once; true when they are settled (written, or no longer wanted). */
  async #attempt (sessionId: string, entry: Entry): Promise<boolean> {
    entry.attempts++
    const fresh = this.#open(entry.sealed)
    const { sessions } = this.#options
    try {
      const current = await sessions.load(sessionId)
      // A write that timed out may have landed after all: the store is asked, not guessed.
      if (current === null) return this.#done(sessionId, entry, 'ended', 'the session ended before its fresh tokens were saved')
      if (current.record.tokens.authToken === fresh.authToken) return this.#done(sessionId, entry, 'saved', 'fresh tokens saved late (an earlier write landed)')
      if (current.record.tokens.authToken !== entry.replaces) return this.#done(sessionId, entry, 'superseded', 'fresh tokens superseded by newer ones in the store')
      const written = await sessions.update(sessionId, current.version, { ...current.record, tokens: fresh })
      if (written === null) return false
      return this.#done(sessionId, entry, 'saved', 'fresh tokens saved late')
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) entry.log.warn({ err: error }, 'saving kept tokens failed; retrying')
      return false
    }
  }

  #done (sessionId: string, entry: Entry, how: PendingOutcome, message: string): true {
    entry.log.info({ refresh: how === 'saved' ? 'saved_late' : how, pendingMs: Date.now() - entry.since, attempts: entry.attempts }, message)
    this.#settle(sessionId, how)
    return true
  }

  #settle (sessionId: string, how: PendingOutcome): void {
    if (!this.#drop(sessionId)) return
    this.#options.onSettled?.(sessionId, how)
  }

  #drop (sessionId: string): boolean {
    const entry = this.#entries.get(sessionId)
    if (entry === undefined) return false
    clearTimeout(entry.timer)
    this.#entries.delete(sessionId)
    return true
  }

  #seal (tokens: TokenSet): Buffer {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    const body = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()])
    return Buffer.concat([iv, cipher.getAuthTag(), body])
  }

  #open (sealed: Buffer): TokenSet {
    const decipher = createDecipheriv('aes-256-gcm', this.#key, sealed.subarray(0, 12))
    decipher.setAuthTag(sealed.subarray(12, 28))
    return JSON.parse(Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8')) as TokenSet
  }
}
