import type { FastifyBaseLogger } from 'fastify'
import { HttpProblem, problems } from '../errors.js'
import { needsRefresh, parseTokenAnswer } from '../tokens/token-set.js'
import type { TokenSet } from '../tokens/token-set.js'
import type { AuthApi } from '../upstream/auth-api.js'
import type { RefreshLock } from './refresh-lock.js'
import type { LoadedSession, SessionRepository } from './repository.js'
import { StoreUnavailableError } from './store.js'

/** How long fresh tokens are retried into an unavailable store before the request gives up. */
const SAVE_RETRY_MS = 5000
const SAVE_RETRY_INTERVAL_MS = 200
/** Room for the store commands around the refresh (a read before, a write after; each may take its timeout). */
const STORE_COMMANDS_MS = 5000

/** The longest a refresh holds its session's lock: the upstream call, then saving its tokens. */
export function refreshHoldLimitMs (refreshTimeoutMs: number): number {
  return refreshTimeoutMs + SAVE_RETRY_MS + STORE_COMMANDS_MS
}

export type RefreshOutcome = 'refreshed' | 'reused' | 'refused' | 'failed'

export interface TokenVaultOptions {
  sessions: SessionRepository
  authApi: AuthApi
  lock: RefreshLock
  refreshSkewMs: number
  defaultTokenLifetimeMs: number
  /** Told of every refresh outcome (metrics); never of the tokens. */
  onOutcome?: (outcome: RefreshOutcome) => void
}

/** The caller's view of a session: its id and the tokens it last read. */
export interface SessionTokens {
  sessionId: string
  tokens: TokenSet
}

/**
 * Hands out tokens that work, refreshing them when they are about to expire (proactive) or
 * when an upstream refused them (reactive). However many requests of one session race, they
 * share one refresh: in this process through a map of refreshes under way, across processes
 * through the refresh lock. After taking the lock the session is read again, so a refresh
 * another request or instance already made is reused instead of repeated (with a strictly
 * rotating upstream, a second refresh with the old token would be refused).
 */
export class TokenVault {
  readonly #options: TokenVaultOptions
  readonly #inFlight = new Map<string, Promise<TokenSet>>()

  constructor (options: TokenVaultOptions) {
    this.#options = options
  }

  /**
   * Tokens good for the next call: refreshed first when either expires within the skew. When
   * that early refresh fails for an upstream reason (5xx, unreachable, too slow) while the
   * tokens still work, the call goes ahead with them; the next call tries again.
   */
  async usable (current: SessionTokens, requestId: string, log: FastifyBaseLogger): Promise<TokenSet> {
    const now = Date.now()
    if (!needsRefresh(current.tokens, now, this.#options.refreshSkewMs)) return current.tokens
    try {
      return await this.refresh(current, requestId, log)
    } catch (error) {
      const stillValid = Math.min(current.tokens.authExpiresAt, current.tokens.ejentoExpiresAt) > Date.now()
      if (stillValid && error instanceof HttpProblem && error.statusCode >= 502) return current.tokens
      throw error
    }
  }

  /**
   * New tokens in place of `current.tokens`: shared with any refresh of this session under way,
   * or reused when the stored session already holds newer ones.
   * Rejects with 401 `session_expired` (the session is ended) when the upstream refuses, or
   * with 502 when it fails (the session is kept).
   */
  async refresh (current: SessionTokens, requestId: string, log: FastifyBaseLogger): Promise<TokenSet> {
    const running = this.#inFlight.get(current.sessionId)
    if (running !== undefined) return await running
    const refresh = this.#refreshOnce(current, requestId, log).finally(() => {
      this.#inFlight.delete(current.sessionId)
    })
    this.#inFlight.set(current.sessionId, refresh)
    return await refresh
  }

  async #refreshOnce ({ sessionId, tokens: stale }: SessionTokens, requestId: string, log: FastifyBaseLogger): Promise<TokenSet> {
    const { sessions, authApi, lock } = this.#options
    const release = await lock.acquire(sessionId)
    try {
      const loaded = await sessions.load(sessionId)
      if (loaded === null) throw problems.notAuthenticated()
      if (loaded.record.tokens.authToken !== stale.authToken) {
        this.#report('reused', log)
        return loaded.record.tokens
      }

      const answer = await authApi.refresh(stale.authToken, requestId).catch((error: unknown) => {
        this.#report('failed', log, { reason: error instanceof HttpProblem ? error.code : 'error' })
        throw error
      })
      // Any refusal ends the session: 401/403 (a dead token), 400 ("Inactive user"), 404 (a
      // deleted user)... Only a busy or failing upstream (408, 429, 5xx) leaves it for a retry.
      if (answer.statusCode >= 400 && answer.statusCode < 500 && answer.statusCode !== 408 && answer.statusCode !== 429) {
        await sessions.destroy(sessionId)
        this.#report('refused', log, { upstreamStatus: answer.statusCode })
        throw problems.sessionExpired()
      }
      const fresh = answer.statusCode === 200 ? parseTokenAnswer(answer.body, Date.now(), this.#options.defaultTokenLifetimeMs) : null
      if (fresh === null) {
        this.#report('failed', log, { upstreamStatus: answer.statusCode })
        throw answer.statusCode === 200
          ? problems.upstreamInvalidResponse('authentication', 'refresh answered without both tokens')
          : problems.upstreamError('authentication', answer.statusCode)
      }

      const saved = await this.#save(sessionId, loaded, fresh, log)
      if (!saved) {
        // Only a log-out (or an expiry) can change the session while we hold its lock.
        this.#report('failed', log, { reason: 'session_ended' })
        throw problems.notAuthenticated()
      }
      this.#report('refreshed', log)
      return fresh
    } finally {
      await release()
    }
  }

  /**
   * Stores fresh tokens, retrying through a short store outage: the upstream may already have
   * revoked the old ones (strict rotation), so losing these would end the session at its next
   * refresh. A retry first checks whether an earlier attempt landed (its answer may be what was lost).
   */
  async #save (sessionId: string, loaded: LoadedSession, fresh: TokenSet, log: FastifyBaseLogger): Promise<boolean> {
    const { sessions } = this.#options
    const deadline = Date.now() + SAVE_RETRY_MS
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt > 1) {
          const current = await sessions.load(sessionId)
          if (current === null) return false
          if (current.record.tokens.authToken === fresh.authToken) return true
        }
        return await sessions.update(sessionId, loaded.version, { ...loaded.record, tokens: fresh }) !== null
      } catch (error) {
        const unavailable = error instanceof StoreUnavailableError
        if (!unavailable || Date.now() >= deadline) {
          this.#report('failed', log, { reason: unavailable ? 'store_unavailable' : 'store_error', unsaved: true })
          throw error
        }
        if (attempt === 1) log.warn({ refresh: 'saving' }, 'fresh tokens not saved yet: the store is unavailable; retrying')
        await new Promise((resolve) => setTimeout(resolve, SAVE_RETRY_INTERVAL_MS))
      }
    }
  }

  #report (outcome: RefreshOutcome, log: FastifyBaseLogger, details: Record<string, unknown> = {}): void {
    const level = outcome === 'failed' ? 'warn' : 'info'
    log[level]({ refresh: outcome, ...details }, `token refresh ${outcome}`)
    this.#options.onOutcome?.(outcome)
  }
}
