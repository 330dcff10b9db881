import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * CORS with credentials for the configured origins only. Any other origin gets no
 * Access-Control-Allow-* header, so its browser keeps the answer from it.
 */
export default fp(async function corsPolicy (app: FastifyInstance, options: { allowedOrigins: readonly string[] }) {
  const allowed = new Set(options.allowedOrigins)
  await app.register(cors, {
    origin: (origin, callback) => { callback(null, origin !== undefined && allowed.has(origin)) },
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    // traceparent/tracestate: an allowed frontend's trace is continued (README, Tracing).
    allowedHeaders: ['content-type', 'accept', 'x-request-id', 'last-event-id', 'traceparent', 'tracestate'],
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
    strictPreflight: true
  })
}, { name: 'cors-policy' })
