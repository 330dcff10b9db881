import type { FastifyInstance } from 'fastify'
import { requireSession } from '../../plugins/session.js'
import agentRoutes from './agents.js'
import userRoutes from './users.js'

/** The named API routes under /api; every one needs a session. */
export default async function apiRoutes (app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', requireSession)
  await app.register(agentRoutes)
  await app.register(userRoutes)
}
