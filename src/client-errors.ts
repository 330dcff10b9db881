import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { problemBody } from './errors.js'
import { SECURITY_HEADERS } from './plugins/security-headers.js'

const ANSWERS: Record<string, [number, string, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'headers_too_large', 'The request line or headers are too large.'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'request_timeout', 'The request took too long to arrive.']
}
const MALFORMED: [number, string, string, string] = [400, 'Bad Request', 'bad_request', 'The request is not valid HTTP.']

/**
 * Node.js rejects some requests before Fastify sees them: headers over the size limit, a
 * request that never finishes arriving, bytes that are not HTTP. Fastify's default answer
 * for those is its own JSON; this one is the same problem JSON, with the same headers, as
 * every other error, and a request id to quote.
 */
export function answerClientError (log: FastifyBaseLogger, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  // An answer is already being written on this connection (garbage after a keep-alive
  // request): another status line would land inside its body. Just close, as Node.js does.
  if ((socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true) {
    socket.destroy()
    return
  }
  const [status, title, code, detail] = ANSWERS[error.code ?? ''] ?? MALFORMED
  const id = randomUUID()
  log.info({ reqId: id, code, err: { code: error.code, message: error.message } }, 'client error before routing')
  if (socket.writable) {
    const body = JSON.stringify(problemBody(status, code, detail))
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-request-id': id,
      connection: 'close'
    }
    socket.write(`HTTP/1.1 ${status} ${title}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n${body}`)
  }
  socket.destroy()
}
