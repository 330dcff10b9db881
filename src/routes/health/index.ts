import type { FastifyInstance } from 'fastify'
import { problemBody } from '../../errors.js'
import { sendProblem } from '../../plugins/error-handler.js'
import { problemAnswer } from '../responses.js'

const statusSchema = { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } as const

/** Liveness says the process answers; readiness says it can serve sessions (the store answers). */
export default async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/healthz', {
    schema: { tags: ['operations'], summary: 'The process is alive', response: { 200: statusSchema } }
  }, async () => ({ status: 'ok' }))

  app.get('/readyz', {
    schema: { tags: ['operations'], summary: 'The session store answers', response: { 200: statusSchema, 503: problemAnswer('Problem: not_ready (the session store does not answer), shutting_down') } }
  }, async (request, reply) => {
    try {
      await app.sessions.store.ping()
      return { status: 'ready' }
    } catch (error) {
      // The reason, one line (the store's own words: a slot range with no primary, no answer...).
      const reason = ((error as { cause?: unknown }).cause instanceof Error ? (error as { cause: Error }).cause : error as Error).message
      request.log.warn({ reason }, 'not ready: the session store does not answer')
      return sendProblem(reply, problemBody(503, 'not_ready', 'The session store does not answer.'))
    }
  })
}
