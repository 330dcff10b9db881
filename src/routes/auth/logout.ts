import type { FastifyInstance } from 'fastify'
import { logoutQuery } from './schemas.js'
import { problemResponses } from '../responses.js'

type Scope = 'session' | 'others' | 'all'

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
      summary: 'Log out (this session; every other session of the user with ?scope=others; all of them with ?scope=all); never refused for its query or body',
      querystring: logoutQuery,
      response: { 204: { type: 'null', description: 'Logged out (also when there was no session)' }, ...problemResponses(403, 503) }
    }
  }, async (request, reply) => {
    const session = request.session
    const scope = scopeOf(request.query)
    if (session !== undefined && scope === 'others') {
      // Every session but this one: this one stays logged in (as DELETE /auth/sessions).
      const ended = await app.sessions.destroyOwner(session.record, session.id)
      app.metrics.sessionsEnded('logout_others', ended)
      request.log.info({ userId: session.record.user.id, ended }, 'logged out everywhere else')
      return await reply.code(204).send()
    }
    if (session !== undefined && scope === 'all') {
      const ended = await app.sessions.destroyOwner(session.record)
      app.metrics.sessionsEnded('logout_all', ended)
      request.log.info({ userId: session.record.user.id, ended }, 'logged out everywhere')
    } else if (session !== undefined) {
      app.metrics.sessionsEnded('logout')
    }
    await reply.endSession()
    if (session !== undefined) request.log.info({ userId: session.record.user.id }, 'logged out')
    return await reply.code(204).send()
  })
}

/**
 * The widest scope the query names (`scope=all` anywhere means all); `others` alone keeps this
 * session; anything else ends this session only.
 */
function scopeOf (query: unknown): Scope {
  const scope = (query as { scope?: unknown } | null)?.scope
  const values = Array.isArray(scope) ? scope : [scope]
  if (values.includes('all')) return 'all'
  return values.length === 1 && values[0] === 'others' ? 'others' : 'session'
}
