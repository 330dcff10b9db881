import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/index.js'
import { AuthApi } from '../upstream/auth-api.js'
import { UpstreamClient } from '../upstream/client.js'
import { PATH_PROFILES } from '../upstream/paths.js'
import type { PathProfile } from '../upstream/paths.js'

declare module 'fastify' {
  interface FastifyInstance {
    upstreams: { auth: UpstreamClient, ejento: UpstreamClient }
    upstreamPaths: PathProfile
    authApi: AuthApi
  }
}

/** One keep-alive pool per upstream, shared by every route, closed when the app closes. */
export default fp(async function upstreams (app: FastifyInstance, options: { upstreams: Config['upstreams'], refreshCallLimitMs: number }) {
  const { authUrl, apiUrl, pathProfile, ...clientOptions } = options.upstreams
  const observe = app.metrics.upstreamCall
  const auth = new UpstreamClient('auth', { baseUrl: authUrl, ...clientOptions, observe })
  const ejento = new UpstreamClient('ejento', { baseUrl: apiUrl, ...clientOptions, observe })
  app.metrics.watchPool('auth', () => auth.poolStats)
  app.metrics.watchPool('ejento', () => ejento.poolStats)
  const paths = PATH_PROFILES[pathProfile]
  app.decorate('upstreams', { auth, ejento })
  app.decorate('upstreamPaths', paths)
  app.decorate('authApi', new AuthApi(auth, paths.auth, { refreshCallLimitMs: options.refreshCallLimitMs }))
  app.addHook('onClose', async () => { await Promise.all([auth.close(), ejento.close()]) })
}, { name: 'upstreams', dependencies: ['metrics'] })
