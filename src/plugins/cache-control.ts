import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Answers carry user data: no cache may keep them unless a route says otherwise. */
export default fp(async function cacheControl (app: FastifyInstance) {
  app.addHook('onSend', async (_request, reply, payload) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    return payload
  })
}, { name: 'cache-control' })
