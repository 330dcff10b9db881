import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HttpProblem } from '../../errors.js'
import { requireSession } from '../../plugins/session.js'
import type { ActiveSession } from '../../plugins/session.js'
import { problemAnswer, problemResponses } from '../responses.js'
import { sessionHandleParams, sessionListSchema } from './schemas.js'

/**
 * The user's own sessions: where they are logged in, and ending any of it. Every instance sees
 * the same list (it is read from the store), and an ended session's next request is 401
 * wherever it arrives.
 */
export default async function sessionsRoutes (app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', requireSession)

  app.get('/sessions', {
    schema: {
      tags: ['session'],
      security: [{ session: [] }],
      summary: 'The user\'s active sessions, latest activity first',
      response: { 200: sessionListSchema, ...problemResponses(401, 503) }
    }
  }, async (request) => {
    const current = currentOf(request)
    const owned = await app.sessions.listOwner(current.record)
    const sessions = owned
      .sort((left, right) => right.touchedAt - left.touchedAt)
      .map(({ id, record, touchedAt }) => ({
        handle: app.sessionHandles.of(id),
        createdAt: new Date(record.createdAt).toISOString(),
        lastSeenAt: new Date(Math.max(touchedAt, record.createdAt)).toISOString(),
        device: record.client?.device ?? 'Unknown device',
        address: record.client?.address ?? 'unknown',
        current: id === current.id
      }))
    return { sessions }
  })

  app.delete<{ Params: { handle: string } }>('/sessions/:handle', {
    schema: {
      tags: ['session'],
      security: [{ session: [] }],
      summary: 'End one of the user\'s sessions, everywhere (404 for an unknown handle or another user\'s)',
      params: sessionHandleParams,
      response: { 204: { type: 'null', description: 'Ended' }, ...problemResponses(400, 401, 403, 503), 404: problemAnswer('Problem: session_not_found (no session of this user has the handle)') }
    }
  }, async (request, reply) => {
    const current = currentOf(request)
    // Only the user's own sessions are searched: another user's handle is as unknown as a made-up one.
    const target = (await app.sessions.listOwner(current.record)).find(({ id }) => app.sessionHandles.matches(request.params.handle, id))
    if (target === undefined) throw new HttpProblem(404, 'session_not_found', 'No session of yours has this handle (it may have ended already).')
    if (target.id === current.id) {
      await reply.endSession()
    } else {
      await app.sessions.destroy(target.id)
    }
    app.metrics.sessionsEnded('revoked')
    request.log.info({ userId: current.record.user.id, current: target.id === current.id }, 'session revoked')
    return await reply.code(204).send()
  })

  app.delete('/sessions', {
    schema: {
      tags: ['session'],
      security: [{ session: [] }],
      summary: 'End every session of the user but this one',
      response: { 204: { type: 'null', description: 'Every other session ended' }, ...problemResponses(401, 403, 503) }
    }
  }, async (request, reply) => {
    const current = currentOf(request)
    const ended = await app.sessions.destroyOwner(current.record, current.id)
    app.metrics.sessionsEnded('logout_others', ended)
    request.log.info({ userId: current.record.user.id, ended }, 'logged out everywhere else')
    return await reply.code(204).send()
  })
}

function currentOf (request: FastifyRequest): ActiveSession {
  // requireSession ran first.
  return request.session as ActiveSession
}
