import type { FastifyInstance } from 'fastify'
import { logoutQuery } from './schemas.js'
import { problemResponses } from '../responses.js'

/** Ends the session server-side (or every session of the user with `?scope=all`) and clears the cookie. Idempotent. */
export default async function logoutRoute (app: FastifyInstance): Promise<void> {
  app.post<{ Querystring: { scope: 'session' | 'all' } }>('/logout', {
    schema: {
      tags: ['session'],
      summary: 'Log out (this session, or every session of the user with ?scope=all)',
      querystring: logoutQuery,
      response: { 204: { type: 'null', description: 'Logged out (also when there was no session)' }, ...problemResponses(400, 403, 503) }
    }
  }, async (request, reply) => {
    const record = request.session?.record
    if (record !== undefined && request.query.scope === 'all') {
      const ended = await app.sessions.destroyOwner(record)
      request.log.info({ userId: record.user.id, ended }, 'logged out everywhere')
    }
    await reply.endSession()
    if (record !== undefined) request.log.info({ userId: record.user.id }, 'logged out')
    return await reply.code(204).send()
  })
}
