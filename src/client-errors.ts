import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { problemBody } from './errors.js'
import { SECURITY_HEADERS } from './plugins/security-headers.js'

type Answer = [status: number, title: string, code: string, detail: string]

const ANSWERS: Record<string, Answer> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'headers_too_large', 'The request line or headers are too large.'],
  // Node.js's requestTimeout: the whole request, headers and body, took longer than REQUEST_TIMEOUT.
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'request_timeout', 'The request took too long to arrive.']
}
const MALFORMED: Answer = [400, 'Bad Request', 'bad_request', 'The request is not valid HTTP.']

/**
 * Node.js rejects some requests before Fastify sees them: headers over the size limit, a
 * request that never finishes arriving, bytes that are not HTTP. Fastify's default answer
 * for those is its own JSON; this one is the same problem JSON, with the same headers, as
 * every other error, and a request id to quote.
 */
export function answerClientError (log: FastifyBaseLogger, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  if (answerUnderWay(socket)) {
    socket.destroy()
    return
  }
  const answer = ANSWERS[error.code ?? ''] ?? MALFORMED
  const id = randomUUID()
  log.info({ reqId: id, code: answer[2], err: { code: error.code, message: error.message } }, 'client error before routing')
  answerAndClose(socket, answer, id)
}

/**
 * A request whose body went silent for `idleMs`: 408 `request_timeout`, and the connection
 * closed, which also ends whatever the request had started (an upload streaming upstream is
 * aborted, its pooled connection freed). Answered like Node.js's own request timeout, on the
 * socket, since the request's handler is still waiting for the body.
 */
export function answerStalledBody (socket: Socket, requestId: string, idleMs: number): void {
  if (socket.destroyed) return
  answerAndClose(socket, [408, 'Request Timeout', 'request_timeout', `The request body stopped arriving: nothing came for ${idleMs / 1000} s.`], requestId)
}

/**
 * An `Expect` other than `100-continue`, which Node.js answers 417 with an empty body unless it
 * is listened for: the same problem JSON as any refusal, and the connection closed (the body
 * that may follow was never asked for).
 */
export function answerUnmetExpectation (log: FastifyBaseLogger, request: IncomingMessage, response: ServerResponse): void {
  const id = randomUUID()
  log.info({ reqId: id, code: 'expectation_failed' }, 'client error before routing')
  const body = JSON.stringify(problemBody(417, 'expectation_failed', 'The only expectation supported is "Expect: 100-continue".'))
  response.writeHead(417, {
    ...SECURITY_HEADERS,
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    'x-request-id': id,
    connection: 'close'
  })
  response.end(body)
  request.resume()
}

/**
 * An answer is already being written on this connection (garbage after a keep-alive request,
 * a body that stalls under a streaming answer): another status line would land inside its
 * body. Then the connection is just closed, as Node.js does.
 */
function answerUnderWay (socket: Socket): boolean {
  return (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
}

function answerAndClose (socket: Socket, [status, title, code, detail]: Answer, requestId: string): void {
  if (socket.writable && !answerUnderWay(socket)) {
    const body = JSON.stringify(problemBody(status, code, detail))
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-request-id': requestId,
      connection: 'close'
    }
    socket.write(`HTTP/1.1 ${status} ${title}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n${body}`)
  }
  socket.destroy()
}
