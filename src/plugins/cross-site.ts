import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { problems } from '../errors.js'

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Cross-site request protection for a cookie-authenticated API. An unsafe request is refused
 * when the browser says it is cross-site (`Sec-Fetch-Site`), or when its `Origin` is neither
 * this server nor an allowed origin. Callers that send neither header (curl, servers) pass:
 * they cannot be made to carry a victim's cookie.
 */
export default fp(async function crossSite (app: FastifyInstance, options: { allowedOrigins: readonly string[] }) {
  const allowed = new Set(options.allowedOrigins)
  app.addHook('onRequest', async (request) => {
    if (!UNSAFE_METHODS.has(request.method)) return
    if (request.headers['sec-fetch-site'] === 'cross-site') {
      throw problems.csrfRejected('Cross-site requests may not change anything here.')
    }
    const origin = request.headers.origin
    if (origin !== undefined && origin !== ownOrigin(request) && !allowed.has(origin)) {
      throw problems.csrfRejected('This origin may not call the BFF; add it to ALLOWED_ORIGINS if it should.')
    }
  })
}, { name: 'cross-site' })

function ownOrigin (request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}
