import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../errors.js'

/**
 * Once the app starts closing, a request that still arrives on an open keep-alive connection
 * is answered 503 `shutting_down` with `Connection: close`, so the client retries on another
 * instance. Requests already in flight, and open streams, are not touched: close() waits for them.
 */
export default fp(async function gracefulClose (app: FastifyInstance) {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  // A connection that was busy when closing began goes idle when its answer ends; close it
  // then, or close() would wait for the whole grace period.
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => { app.server.closeIdleConnections() })
  })
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return
    reply.header('connection', 'close')
    throw new HttpProblem(503, 'shutting_down', 'This instance is shutting down. Retry: another instance will answer.', { headers: { 'retry-after': '1' } })
  })
}, { name: 'graceful-close' })
