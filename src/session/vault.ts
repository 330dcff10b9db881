import { createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { HttpProblem, problems } from '../errors.js'
import { tracing } from '../tracing/active.js'
import type { AttributeValue } from '../tracing/active.js'
import { needsRefresh, parseTokenAnswer } from '../tokens/token-set.js'
import type { TokenSet } from '../tokens/token-set.js'
import type { AuthApi } from '../upstream/auth-api.js'
import type { RefreshLock } from './refresh-lock.js'
import type { LoadedSession, SessionRepository } from './repository.js'
import type { PendingTokens } from './pending-tokens.js'
import { StoreUnavailableError } from './store.js'

/** Room for the store commands around the refresh (reads before, a write after; each may take its timeout). */
const STORE_COMMANDS_MS = 5000

/** The longest a refresh holds its session's lock: the whole upstream call, then the first save. */
export function refreshHoldLimitMs (refreshCallLimitMs: number): number {
  return refreshCallLimitMs + STORE_COMMANDS_MS
}

export type RefreshOutcome = 'refreshed' | 'reused' | 'refused' | 'failed' | 'lost'

export interface TokenVaultOptions {
  sessions: SessionRepository
  authApi: AuthApi
  lock: RefreshLock
  refreshSkewMs: number
  defaultTokenLifetimeMs: number
  /** How long a caller waits for a refresh (then 504); the refresh itself goes on. */
  refreshTimeoutMs: number
  /** Tokens a refresh could not store yet; kept and retried. */
  pending: PendingTokens
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
 *
 * A refresh whose call has gone upstream is never abandoned, because the upstream may already
 * have revoked the old token: a caller waits at most REFRESH_TIMEOUT (then 504), but the call
 * runs on to its end (bounded by REFRESH_CALL_LIMIT) and its tokens are stored; fresh tokens the
 * store cannot take yet are kept in memory and retried (PendingTokens), never dropped.
 */
export class TokenVault {
  readonly #options: TokenVaultOptions
  readonly #inFlight = new Map<string, SharedRefresh>()

  constructor (options: TokenVaultOptions) {
    this.#options = options
  }

  /**
   * Tokens good for the next call: fresher ones this instance holds unsaved, or refreshed first
   * when either expires within the skew. When that early refresh fails for an upstream or
   * store reason (5xx, unreachable, too slow, busy) while the tokens still work, the call goes
   * ahead with them; the next call tries again.
   */
  async usable (current: SessionTokens, requestId: string, log: FastifyBaseLogger): Promise<TokenSet> {
    const tokens = this.#options.pending.replacing(current.sessionId, current.tokens.authToken) ?? current.tokens
    if (!needsRefresh(tokens, Date.now(), this.#options.refreshSkewMs)) return tokens
    try {
      return await this.refresh({ sessionId: current.sessionId, tokens }, requestId, log)
    } catch (error) {
      const stillValid = Math.min(tokens.authExpiresAt, tokens.ejentoExpiresAt) > Date.now()
      if (stillValid && error instanceof HttpProblem && error.statusCode >= 502) return tokens
      throw error
    }
  }

  /**
   * New tokens in place of `current.tokens`: shared with any refresh of this session under way,
   * or reused when the stored session already holds newer ones.
   * Rejects with 401 `session_expired` (the session is ended) when the upstream refuses, with
   * 502/503 when it or the store fails (the session is kept), and with 504 when the refresh
   * takes longer than REFRESH_TIMEOUT (the session is kept, and the refresh goes on).
   */
  async refresh (current: SessionTokens, requestId: string, log: FastifyBaseLogger): Promise<TokenSet> {
    if (tracing !== undefined) {
      // A `token.refresh` span in each caller's trace, told how the refresh they share went.
      return await tracing.inSpan('token.refresh', async (span) => await this.#refreshShared(current, requestId, log, (name, value) => { span.set(name, value) }))
    }
    return await this.#refreshShared(current, requestId, log)
  }

  async #refreshShared (current: SessionTokens, requestId: string, log: FastifyBaseLogger, tell?: Tell): Promise<TokenSet> {
    let refresh = this.#inFlight.get(current.sessionId)
    if (refresh === undefined) {
      const listeners: Tell[] = tell === undefined ? [] : [tell]
      refresh = Object.assign(this.#refreshOnce(current, requestId, log, (name, value) => { for (const listener of listeners) listener(name, value) }).finally(() => {
        this.#inFlight.delete(current.sessionId)
      }), { listeners })
      // Its callers may have stopped waiting; its failure is theirs to report, not the process's.
      refresh.catch(() => {})
      this.#inFlight.set(current.sessionId, refresh)
    } else if (tell !== undefined) {
      tell('ejento_bff.refresh.shared', true)
      refresh.listeners.push(tell)
    }
    return await this.#waitFor(refresh)
  }

  /**
   * Resolves once every refresh under way has ended (each within REFRESH_CALL_LIMIT), its tokens
   * stored or kept and its lock released: on shutdown, before the store and the pools close.
   */
  async settled (): Promise<void> {
    await Promise.allSettled([...this.#inFlight.values()])
  }

  async #waitFor (refresh: Promise<TokenSet>): Promise<TokenSet> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(problems.upstreamTimeout('authentication')), this.#options.refreshTimeoutMs)
    })
    try {
      return await Promise.race([refresh, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async #refreshOnce ({ sessionId, tokens: stale }: SessionTokens, requestId: string, log: FastifyBaseLogger, tell: Tell): Promise<TokenSet> {
    const { sessions, authApi, lock, pending } = this.#options
    const report = (outcome: RefreshOutcome, details?: Record<string, unknown>): void => {
      this.#report(outcome, log, details)
      tell('ejento_bff.refresh.outcome', outcome)
    }
    const waitStarted = tracing === undefined ? 0 : performance.now()
    const release = await lock.acquire(sessionId)
    if (tracing !== undefined) tell('ejento_bff.refresh.lock_waited_ms', Math.round((performance.now() - waitStarted) * 1000) / 1000)
    try {
      const loaded = await sessions.load(sessionId)
      if (loaded === null) throw problems.notAuthenticated()
      const kept = pending.replacing(sessionId, loaded.record.tokens.authToken)
      if (kept !== undefined || loaded.record.tokens.authToken !== stale.authToken) {
        report('reused')
        return kept ?? loaded.record.tokens
      }

      // Another instance may have spent this token on a refresh whose answer it still holds.
      const fingerprint = tokenFingerprint(stale.authToken)
      const announced = await lock.announcedBy(sessionId, fingerprint)
      if (announced === 'alive') {
        report('failed', { reason: 'refresh_pending' })
        throw new HttpProblem(503, 'refresh_pending', 'Another instance refreshed this session and has not stored the new tokens yet. Try again shortly.', { headers: { 'retry-after': '1' } })
      }
      if (announced === 'dead') log.warn({ refresh: 'takeover' }, 'the instance that was refreshing this session is gone; trying the old token once')
      await lock.announce(sessionId, fingerprint)
      // This instance trades the token: the one a trace names as having refreshed.
      if (tracing !== undefined) tell('ejento_bff.refresh.instance', tracing.instanceId)
      // Concluded however the refresh ends (a failing store included), but for fresh tokens kept
      // unsaved: while this instance holds those, others must wait for it.
      let keptUnsaved = false
      try {
        const answer = await authApi.refresh(stale.authToken, requestId).catch((error: unknown) => {
          // Nothing came back; whether the upstream spent the token is unknown. The announcement
          // is concluded all the same: a later refresh with the old token is the only way to learn.
          report('failed', { reason: error instanceof HttpProblem ? error.code : 'error' })
          throw error
        })
        // Any refusal ends the session: 401/403 (a dead token), 400 ("Inactive user"), 404 (a
        // deleted user)... Only a busy or failing upstream (408, 429, 5xx) leaves it for a retry.
        if (answer.statusCode >= 400 && answer.statusCode < 500 && answer.statusCode !== 408 && answer.statusCode !== 429) {
          // Newer tokens may have landed meanwhile (another instance's late save): then nothing is lost.
          const again = await sessions.load(sessionId)
          if (again !== null && again.record.tokens.authToken !== stale.authToken) {
            report('reused', { upstreamStatus: answer.statusCode })
            return again.record.tokens
          }
          await sessions.destroy(sessionId)
          if (announced === 'dead') report('lost', { upstreamStatus: answer.statusCode, reason: 'holder_died' })
          else report('refused', { upstreamStatus: answer.statusCode })
          throw problems.sessionExpired()
        }
        const fresh = answer.statusCode === 200 ? parseTokenAnswer(answer.body, Date.now(), this.#options.defaultTokenLifetimeMs) : null
        if (fresh === null) {
          report('failed', { upstreamStatus: answer.statusCode })
          throw answer.statusCode === 200
            ? problems.upstreamInvalidResponse('authentication', 'refresh answered without both tokens')
            : problems.upstreamError('authentication', answer.statusCode)
        }

        const saved = await this.#save(sessionId, loaded, fresh, stale, log)
        if (saved === 'ended') {
          // Only a log-out (or an expiry) can change the session while we hold its lock.
          report('failed', { reason: 'session_ended' })
          throw problems.notAuthenticated()
        }
        keptUnsaved = saved === 'kept'
        report('refreshed', keptUnsaved ? { saved: false } : {})
        return fresh
      } finally {
        if (!keptUnsaved) await lock.conclude(sessionId)
      }
    } finally {
      await release()
    }
  }

  /**
   * Stores fresh tokens. The upstream may already have revoked the old ones (strict rotation),
   * so these must not be lost: when the store is unavailable they are kept and retried in the
   * background ('kept'), and this instance uses them meanwhile.
   */
  async #save (sessionId: string, loaded: LoadedSession, fresh: TokenSet, stale: TokenSet, log: FastifyBaseLogger): Promise<'saved' | 'kept' | 'ended'> {
    const { sessions, pending } = this.#options
    try {
      return await sessions.update(sessionId, loaded.version, { ...loaded.record, tokens: fresh }) !== null ? 'saved' : 'ended'
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error
      // The write may still land (a timeout is not a refusal); the retries check before writing.
      log.warn({ refresh: 'saving' }, 'fresh tokens not saved yet: the store is unavailable; kept in memory and retried until it takes them')
      pending.keep(sessionId, fresh, stale.authToken, loaded, log)
      return 'kept'
    }
  }

  #report (outcome: RefreshOutcome, log: FastifyBaseLogger, details: Record<string, unknown> = {}): void {
    const level = outcome === 'failed' || outcome === 'lost' ? 'warn' : 'info'
    log[level]({ refresh: outcome, ...details }, `token refresh ${outcome}`)
    this.#options.onOutcome?.(outcome)
  }
}

/** Tells the spans of a refresh's callers an attribute of it (with tracing on). */
type Tell = (name: string, value: AttributeValue) => void

/** A refresh under way, and the callers' spans waiting for it. */
type SharedRefresh = Promise<TokenSet> & { listeners: Tell[] }

/** Names a token in the store without revealing it. */
function tokenFingerprint (token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22)
}
