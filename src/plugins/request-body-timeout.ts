import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { answerStalledBody } from '../client-errors.js'

/**
 * A request body may go silent for at most `idleMs`. Past that it is cut with 408
 * `request_timeout` and its connection closed, which also ends what the request started:
 * a passthrough upload streaming upstream is aborted and its pooled upstream connection
 * freed, so a few stalled uploads cannot starve everyone else's calls. (The whole request,
 * however steadily it trickles, is bounded by Node.js's requestTimeout: see app.ts.)
 *
 * The clock is the socket's idle timeout, which Node.js refreshes on every byte it reads:
 * nothing runs per chunk. It is set only while a body is on its way; once the body has
 * arrived, the answer may take as long as it needs (an agent stream can be silent for a
 * minute).
 */
export default fp(async function requestBodyTimeout (app: FastifyInstance, options: { idleMs: number }) {
  const { idleMs } = options
  app.addHook('onRequest', (request, reply, done) => {
    if (hasBody(request.raw)) watchBody(request, reply, idleMs)
    done()
  })
}, { name: 'request-body-timeout' })

function hasBody (raw: IncomingMessage): boolean {
  const length = raw.headers['content-length']
  return raw.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

function watchBody (request: FastifyRequest, reply: FastifyReply, idleMs: number): void {
  const { raw } = request
  const socket = raw.socket
  // Injected requests (app.inject) have no real socket, and their body is there at once.
  if (typeof socket?.setTimeout !== 'function') return
  // A 'timeout' listener on the response keeps Node.js from destroying the socket itself.
  reply.raw.setTimeout(idleMs, () => {
    if (raw.complete) {
      socket.setTimeout(0)
      return
    }
    request.log.info({ idleMs }, 'the request body stalled: answered 408 and closed')
    answerStalledBody(socket, request.id, idleMs)
  })
  raw.once('end', () => {
    // Once the answer is written, Node.js's keep-alive timeout owns the socket's clock.
    if (!reply.raw.writableEnded) socket.setTimeout(0)
  })
}
