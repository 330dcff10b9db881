import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Forwarder } from '../proxy/forwarder.js'
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
  lock?: RefreshLock
}

/** The token vault (refresh, single-flight) and the forwarder that calls upstreams with its tokens. */
export default fp(async function tokenVault (app: FastifyInstance, options: TokenVaultPluginOptions) {
  const vault = new TokenVault({
    sessions: app.sessions,
    authApi: app.authApi,
    lock: options.lock ?? noRefreshLock,
    refreshSkewMs: options.refreshSkewMs,
    defaultTokenLifetimeMs: options.defaultTokenLifetimeMs,
    onOutcome: app.metrics.refreshOutcome
  })
  app.decorate('vault', vault)
  app.decorate('forwarder', new Forwarder(app.upstreams, vault))
}, { name: 'token-vault', dependencies: ['session-store', 'upstreams', 'metrics'] })
