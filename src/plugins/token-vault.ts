import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Forwarder } from '../proxy/forwarder.js'
import { PendingTokens } from '../session/pending-tokens.js'
import { noRefreshLock } from '../session/refresh-lock.js'
import type { RefreshLock } from '../session/refresh-lock.js'
import { TokenVault } from '../session/vault.js'

declare module 'fastify' {
  interface FastifyInstance {
    vault: TokenVault
    forwarder: Forwarder
  }
}

export interface TokenVaultPluginOptions {
  refreshSkewMs: number
  defaultTokenLifetimeMs: number
  refreshTimeoutMs: number
  /** SHUTDOWN_GRACE_PERIOD: how long, from the start of a shutdown, kept tokens may still be retried. */
  shutdownGraceMs: number
  lock?: RefreshLock
}

/** Kept tokens get at least this long to reach the store on shutdown, however long the requests took. */
const SHORTEST_FLUSH_MS = 3000

/**
 * The token vault (refresh, single-flight, fresh tokens kept through a store outage) and the
 * forwarder that calls upstreams with its tokens. On close, refreshes under way finish first,
 * then kept tokens are written, retried within the shutdown's grace period.
 */
export default fp(async function tokenVault (app: FastifyInstance, options: TokenVaultPluginOptions) {
  const lock = options.lock ?? noRefreshLock
  const pending = new PendingTokens({
    sessions: app.sessions,
    onSettled: (sessionId, how) => {
      if (how === 'saved') app.metrics.refreshOutcome('saved_late')
      // However they ended, the kept tokens no longer make other instances wait (refresh_pending).
      lock.conclude(sessionId).catch(() => {})
    }
  })
  app.metrics.watchPendingTokens(() => pending.size)
  const vault = new TokenVault({
    sessions: app.sessions,
    authApi: app.authApi,
    lock,
    pending,
    refreshSkewMs: options.refreshSkewMs,
    defaultTokenLifetimeMs: options.defaultTokenLifetimeMs,
    refreshTimeoutMs: options.refreshTimeoutMs,
    onOutcome: (outcome) => {
      app.metrics.refreshOutcome(outcome)
      if (outcome === 'refused' || outcome === 'lost') app.metrics.sessionsEnded('refresh_refused')
    }
  })
  let closingSince = Date.now()
  app.addHook('preClose', async () => { closingSince = Date.now() })
  app.addHook('onClose', async () => {
    // Refreshes nobody waits for any more still finish while Redis is open (this hook runs
    // before the store's and the pools'): their answer holds the session's only working tokens,
    // and their lock must be released, not left to lapse.
    await vault.settled()
    await pending.flush(Math.max(closingSince + options.shutdownGraceMs, Date.now() + SHORTEST_FLUSH_MS))
    await lock.close()
  })
  app.decorate('vault', vault)
  app.decorate('forwarder', new Forwarder(app.upstreams, vault))
}, { name: 'token-vault', dependencies: ['session-store', 'upstreams', 'metrics'] })
