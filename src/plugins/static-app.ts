import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * The API's own CSP (`default-src 'none'`) would stop a page from running at all. Static
 * answers get a page policy instead: everything from this origin, nothing inline, nothing
 * from elsewhere, no framing.
 */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'"
].join('; ')

/**
 * Serves a browser app (STATIC_DIR; demo mode: web/) at `/`: index.html and its assets.
 * Only the files present at start get a route (no wildcard), so the static files can never
 * take over the BFF's routes or its 404 answers. Nothing is registered without a directory.
 */
export default fp(async function staticApp (app: FastifyInstance, options: { root: string | undefined }) {
  const { root } = options
  if (root === undefined) return
  // The configuration already refused a folder that would shadow the BFF's routes (STATIC_RESERVED).
  // A scope of its own: the page policy and the file routes stay out of the API's answers.
  await app.register(async function staticFiles (scope) {
    scope.addHook('onSend', async (_request, reply, payload) => {
      reply.header('content-security-policy', PAGE_CSP)
      // The files hold no user data; keep them, but check they are current before each use.
      reply.header('cache-control', 'no-cache')
      return payload
    })
    await scope.register(fastifyStatic, {
      root,
      prefix: '/',
      wildcard: false,
      index: ['index.html'],
      decorateReply: false,
      cacheControl: false,
      serveDotFiles: false
    })
  })
}, { name: 'static-app' })
