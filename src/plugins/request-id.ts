import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * The caller's `X-Request-Id` when it is a safe token (so it can go into logs and upstream
 * headers without injection), otherwise a new UUID. Used as Fastify's `genReqId`.
 */
export function requestIdFor (req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID()
}

/** Returns the request id on every answer, so a browser report can be matched to log lines. */
export default fp(async function requestId (app: FastifyInstance) {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
}, { name: 'request-id' })
