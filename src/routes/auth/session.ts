import type { FastifyInstance } from 'fastify'
import { sessionSchema } from './schemas.js'
import { problemResponses } from '../responses.js'
import { browserUser } from './user-session.js'

/** Who is logged in, and until when the session lasts unless used again. */
export default async function sessionRoute (app: FastifyInstance): Promise<void> {
  app.get('/session', {
    schema: {
      tags: ['session'],
      summary: 'Who is logged in',
      response: { 200: sessionSchema, ...problemResponses(503) }
    }
  }, async (request) => {
    const session = request.session
    if (session === undefined) return { authenticated: false }
    return { authenticated: true, user: browserUser(session.record.user), expiresAt: new Date(session.expiresAt).toISOString() }
  })
}
