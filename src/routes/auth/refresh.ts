import type { FastifyInstance } from 'fastify'
import { problems } from '../../errors.js'
import { problemResponses } from '../responses.js'

/** Refreshes both tokens now (shared with any refresh of this session under way). */
export default async function refreshRoute (app: FastifyInstance): Promise<void> {
  app.post('/refresh', {
    schema: {
      tags: ['session'],
      summary: 'Refresh both tokens now',
      security: [{ session: [] }],
      response: { 204: { type: 'null', description: 'Refreshed' }, ...problemResponses(401, 403, 502, 503, 504) }
    }
  }, async (request, reply) => {
    const session = request.session
    if (session === undefined) throw problems.notAuthenticated()
    await app.vault.refresh({ sessionId: session.id, tokens: session.record.tokens }, request.id, request.log)
    return await reply.code(204).send()
  })
}
