import type { FastifyInstance } from 'fastify'
import { logoutQuery } from './schemas.js'
import { problemResponses } from '../responses.js'

type Scope = 'session' | 'all'

/**
 * Ends the session server-side (or every session of the user with `?scope=all`) and clears the
 * cookie. Idempotent, and it never refuses: whatever else the request carries (a cache-buster
 * query, an unknown scope, a body that is not JSON), the current session ends.
 */
export default async function logoutRoute (app: FastifyInstance): Promise<void> {
  // A log-out's body means nothing: it is drained unread, so a malformed one cannot keep a session alive.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, payload, done) => {
    payload.resume()
    done(null)
  })

  app.post('/logout', {
    // The documented query is checked for the docs only: a bad one must not stop a log-out.
    attachValidation: true,
    schema: {
      tags: ['session'],
      summary: 'Log out (this session, or every session of the user with ?scope=all); never refused for its query or body',
      querystring: logoutQuery,
      response: { 204: { type: 'null', description: 'Logged out (also when there was no session)' }, ...problemResponses(403, 503) }
    }
  }, async (request, reply) => {
    const record = request.session?.record
    if (record !== undefined && scopeOf(request.query) === 'all') {
      const ended = await app.sessions.destroyOwner(record)
      request.log.info({ userId: record.user.id, ended }, 'logged out everywhere')
    }
    await reply.endSession()
    if (record !== undefined) request.log.info({ userId: record.user.id }, 'logged out')
    return await reply.code(204).send()
  })
}

/** The widest scope the query names (`scope=all` anywhere means all); anything else ends this session only. */
function scopeOf (query: unknown): Scope {
  const scope = (query as { scope?: unknown } | null)?.scope
  const values = Array.isArray(scope) ? scope : [scope]
  return values.includes('all') ? 'all' : 'session'
}
