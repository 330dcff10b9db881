import type { FastifyInstance } from 'fastify'
import { requireSession } from '../../plugins/session.js'
import agentRoutes from './agents.js'
import chatThreadRoutes from './chat-threads.js'
import feedbackRoutes from './feedback.js'
import userRoutes from './users.js'

/** The named API routes under /api; every one needs a session. */
export default async function apiRoutes (app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', requireSession)
  await app.register(agentRoutes)
  await app.register(chatThreadRoutes)
  await app.register(feedbackRoutes)
  await app.register(userRoutes)
}
