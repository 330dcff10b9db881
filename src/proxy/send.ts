import { PassThrough, Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { HttpProblem, problems } from '../errors.js'
import type { UpstreamClient, UpstreamResponse } from '../upstream/client.js'
import { upstreamFailure } from '../upstream/errors.js'
import { readUpTo, resumed } from '../upstream/read-body.js'
import type { BodyHead } from '../upstream/read-body.js'
import { sanitised, withoutCredentials } from '../upstream/sanitize.js'
import { returnedResponseHeaders } from './headers.js'

/**
 * A named route's JSON answer: the upstream's status and JSON, passed back. An upstream 5xx
 * becomes 502 `upstream_error`; a success that is not JSON, 502 `upstream_invalid_response`.
 * Answers of the authentication server lose any password or token field on the way, and no
 * answer keeps a credential the call carried.
 */
export async function sendUpstreamJson (reply: FastifyReply, client: UpstreamClient, response: UpstreamResponse): Promise<FastifyReply> {
  if (response.statusCode >= 500) {
    response.body.resume()
    throw problems.upstreamError(client.label, response.statusCode)
  }
  const body = await client.readJson(response, response.statusCode < 300)
  if (body === null && response.statusCode >= 400) {
    throw new HttpProblem(response.statusCode, 'upstream_rejected', `The ${client.label} server refused the call (status ${response.statusCode}).`)
  }
  const { 'content-length': _length, 'content-type': _type, ...headers } = returnedResponseHeaders(response.headers)
  const payload = safeText(reply, client, JSON.stringify(sanitised(body, client.name).value), response.secrets)
  return await reply.code(response.statusCode).headers(headers).type('application/json; charset=utf-8').send(payload)
}

/** The text without any credential the call carried; each removal is logged (never the value). */
function safeText (reply: FastifyReply, client: UpstreamClient, text: string, secrets: readonly string[] | undefined): string {
  const cleaned = withoutCredentials(text, secrets)
  if (cleaned.removed > 0) reply.log.warn({ upstream: client.name, removed: cleaned.removed }, 'credentials the call carried were cut out of the upstream answer')
  return cleaned.text
}

/**
 * Passes an upstream answer through as it arrives, chunk by chunk, never buffered.
 * Event streams get `Cache-Control: no-cache` and `X-Accel-Buffering: no` so that no proxy
 * in front holds them back; when the upstream fails in the middle of one, the browser gets
 * a final `event: error` and a clean end instead of a hang. A browser that goes away
 * destroys the upstream body, which aborts the upstream call.
 */
export function sendUpstreamStream (reply: FastifyReply, response: UpstreamResponse): FastifyReply {
  const headers = returnedResponseHeaders(response.headers)
  const isEventStream = headers['content-type']?.toLowerCase().startsWith('text/event-stream') === true
  if (isEventStream) {
    delete headers['content-length']
    headers['cache-control'] = 'no-cache'
    headers['x-accel-buffering'] = 'no'
  }

  const source = response.body
  const out = new PassThrough()
  const metrics = reply.server.metrics
  metrics.streamOpened()
  source.on('data', (chunk: Buffer) => {
    if (!out.write(chunk)) source.pause()
  })
  out.on('drain', () => source.resume())
  source.once('end', () => out.end())
  source.once('error', (error: Error) => {
    if (reply.raw.destroyed && !reply.raw.writableFinished) {
      reply.log.info('the client went away during the stream; the upstream call was aborted')
      out.destroy()
      return
    }
    reply.log.warn({ err: error }, 'the upstream stream failed before its end')
    if (isEventStream && !out.destroyed) {
      out.end(`event: error\ndata: ${JSON.stringify({ code: 'upstream_stream_failed', message: 'The upstream stream ended unexpectedly.' })}\n\n`)
    } else {
      out.destroy(error)
    }
  })
  out.once('close', () => {
    metrics.streamClosed()
    if (!source.destroyed) source.destroy()
  })
  return reply.code(response.statusCode).headers(headers).send(out)
}

/** JSON answers up to this size are read and checked for token fields on the passthrough. */
const CHECKED_JSON_BYTES = 1024 * 1024

/**
 * A passthrough answer: streamed through as it is, except that a JSON answer (of reasonable
 * size; token answers are small) is read first and loses any token field and any credential
 * the call carried, and, from the authentication server, any password or echoed input, before
 * it reaches the browser. An upstream 5xx becomes 502 `upstream_error`, as on the named
 * routes: a crash page or a stack trace is not for the browser.
 */
export async function sendPassthrough (reply: FastifyReply, client: UpstreamClient, response: UpstreamResponse): Promise<FastifyReply> {
  if (response.statusCode >= 500) {
    response.body.resume()
    throw problems.upstreamError(client.label, response.statusCode)
  }
  const length = Number(response.headers['content-length'] ?? Number.NaN)
  if (!isJson(response.headers['content-type']) || length > CHECKED_JSON_BYTES) return sendUpstreamStream(reply, response)

  let head: BodyHead
  try {
    head = await readUpTo(response.body, CHECKED_JSON_BYTES)
  } catch (error) {
    throw upstreamFailure(client.label, error)
  }
  // Larger than any token answer: pass it on unread, as it comes.
  if (head.rest !== undefined) return sendUpstreamStream(reply, { ...response, body: Readable.from(resumed(head)) })
  const text = Buffer.concat(head.chunks).toString('utf8')
  const { 'content-length': _length, ...headers } = returnedResponseHeaders(response.headers)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return await reply.code(response.statusCode).headers(headers).send(safeText(reply, client, text, response.secrets))
  }
  const { value, removed } = sanitised(parsed, client.name)
  if (removed > 0) reply.log.warn({ upstream: client.name, removed }, 'secret fields removed from a passthrough answer')
  return await reply.code(response.statusCode).headers(headers).send(safeText(reply, client, removed > 0 ? JSON.stringify(value) : text, response.secrets))
}

/**
 * `application/json` and `+json` types: one document, read whole. Streaming formats such as
 * `application/x-ndjson` or `application/json-seq` are passed on chunk by chunk instead.
 */
function isJson (contentType: string | string[] | undefined): boolean {
  if (typeof contentType !== 'string') return false
  const type = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? ''
  return type === 'application/json' || type.endsWith('+json')
}
