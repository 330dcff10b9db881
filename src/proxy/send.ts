import { PassThrough, Readable, pipeline } from 'node:stream'
import type { FastifyReply } from 'fastify'
import type { UpstreamClient, UpstreamName, UpstreamResponse } from '../upstream/client.js'
import { upstreamFailure } from '../upstream/errors.js'
import { readUpTo, resumed } from '../upstream/read-body.js'
import type { BodyHead } from '../upstream/read-body.js'
import { cleanJson, cleanJsonLines, jsonKind } from './clean-answer.js'
import { headersForBrowser, upstreamError } from './answer-head.js'
import { streamLineCleaner } from './stream-credentials.js'
import { credentialCutter, credentialsToCut } from './credential-cutter.js'
import { tracing } from '../tracing/active.js'
import type { StreamEnd } from '../tracing/active.js'

/** How an event stream speaks: the guide's named events, or v2's `data:` lines switched on `step`. */
export type StreamFormat = 'events' | 'steps'

const STREAM_FAILED_MESSAGE = 'The upstream stream ended unexpectedly.'

/** The BFF's one addition to a stream, at an upstream failure, in the stream's own format (made once, sent as is). */
const STREAM_FAILED: Record<StreamFormat, string> = {
  events: `event: error\ndata: ${JSON.stringify({ code: 'upstream_stream_failed', message: STREAM_FAILED_MESSAGE })}\n\n`,
  steps: `data: ${JSON.stringify({ step: 'error', message: STREAM_FAILED_MESSAGE, code: 'upstream_stream_failed' })}\n\n`
}

/**
 * Passes an upstream answer through as it arrives, chunk by chunk, never buffered; an event
 * stream line by line, each line without the credentials the call carried and without the
 * token fields of `upstream`'s answers (stream-credentials.ts). Event streams get
 * `Cache-Control: no-cache` and `X-Accel-Buffering: no` so that no proxy in front holds them
 * back; when the upstream fails in the middle of one, the browser gets
 * a final error event in the stream's `format` (the caller knows it from the path profile:
 * never guessed from the bytes) and a clean end instead of a hang. Any other answer that fails
 * before its first byte left is a 502/504 problem instead; after that, the browser's
 * connection is cut, so that a truncated download never looks whole. A browser that goes
 * away destroys the upstream body, which aborts the upstream call.
 */
export function sendUpstreamStream (reply: FastifyReply, label: string, response: UpstreamResponse, format: StreamFormat = 'events', upstream: UpstreamName = 'ejento'): FastifyReply {
  const headers = headersForBrowser(reply, label, response)
  // The upstream's own type, as withCredentialsCut reads it (a type holding a credential is not the browser's).
  const isEventStream = isEventStreamType(response.headers['content-type'])
  if (isEventStream) {
    delete headers['content-length']
    headers['cache-control'] = 'no-cache'
    headers['x-accel-buffering'] = 'no'
  }

  const source = response.body
  const out = new PassThrough()
  const metrics = reply.server.metrics
  metrics.streamOpened()
  // With tracing on: a `stream` span, told of every byte the browser is sent and of how the stream ended.
  const span = tracing?.stream()
  let how: StreamEnd | undefined
  // An event stream's lines lose the credentials the call carried and any token field on the way (stream-credentials.ts).
  const clean = streamLineCleaner(reply.log, upstream, response.secrets)
  // An event stream's last three bytes sent, so that a failure knows whether the upstream stopped between two events.
  let tail = BETWEEN_EVENTS
  // An event stream's unfinished last line waits for its line end: a client can do nothing with
  // half a line, a credential in it is only found once the line is whole, and when the upstream
  // fails first, the half is dropped instead of becoming an event that is not JSON (Ejento's v2
  // client stops at one).
  let held: Buffer[] = []
  let heldBytes = 0
  // Set once the BFF has ended the browser's stream itself: the upstream's later bytes and failure are not for it.
  let ended = false
  const endWithError = (): void => {
    ended = true
    held = []
    const last = unfinishedEventEnd(tail) + STREAM_FAILED[format]
    how = 'upstream_failed'
    span?.sent(Buffer.from(last))
    out.end(last)
  }
  const writeLines = (lines: Buffer): void => {
    const cleaned = clean(lines)
    tail = lastBytes(tail, cleaned)
    span?.sent(cleaned)
    if (!out.write(cleaned)) source.pause()
  }
  source.on('data', (chunk: Buffer) => {
    if (ended) return
    if (isEventStream) {
      const end = afterLastLineEnd(chunk)
      const rest = chunk.subarray(end)
      if ((end === 0 ? heldBytes : 0) + rest.length > HELD_LINE_LIMIT) {
        // A line longer than the limit is never held whole, so it could not be checked for
        // credentials (an exact token split between two pieces, an escaped one, a token field):
        // rather than pass it unchecked, or hold without bound, the stream ends with the BFF's
        // error event, as on an upstream failure, and the upstream call is aborted.
        reply.log.warn({ upstream: label, limit: HELD_LINE_LIMIT }, 'an event-stream line longer than the limit was not passed on; the stream was ended')
        if (end > 0) writeLines(Buffer.concat([...held, chunk.subarray(0, end)]))
        endWithError()
        source.destroy()
        return
      }
      if (end === 0) {
        held.push(chunk)
        heldBytes += chunk.length
        return
      }
      const lines = held.length === 0 ? chunk.subarray(0, end) : Buffer.concat([...held, chunk.subarray(0, end)])
      held = rest.length === 0 ? [] : [rest]
      heldBytes = rest.length
      writeLines(lines)
      return
    }
    span?.sent(chunk)
    if (!out.write(chunk)) source.pause()
  })
  out.on('drain', () => source.resume())
  // A last line without its line end still goes: the stream's end ends it.
  source.once('end', () => {
    if (ended) return
    const last = held.length === 0 ? undefined : clean(Buffer.concat(held))
    how = 'done'
    if (last !== undefined) span?.sent(last)
    out.end(last)
  })
  source.on('error', (error: Error) => {
    if (ended) return
    if (reply.raw.destroyed && !reply.raw.writableFinished) {
      reply.log.info('the client went away during the stream; the upstream call was aborted')
      how = 'client_gone'
      out.destroy()
      return
    }
    reply.log.warn({ err: error }, 'the upstream stream failed before its end')
    how = 'upstream_failed'
    if (isEventStream && !out.destroyed) {
      // Cut in the middle of an event: that event is ended first, so that the error is one of its own.
      endWithError()
    } else if (!reply.raw.headersSent) {
      // Nothing has reached the browser yet: it gets a 502 problem, without the upstream's headers.
      for (const name of Object.keys(headers)) {
        reply.removeHeader(name)
        reply.raw.removeHeader(name)
      }
      out.destroy(upstreamFailure(label, error))
    } else {
      out.destroy(error)
    }
  })
  out.once('close', () => {
    metrics.streamClosed()
    // Closed before the upstream ended or failed: the browser went away.
    span?.end(how ?? 'client_gone')
    if (!source.destroyed) source.destroy()
  })
  return reply.code(response.statusCode).headers(headers).send(out)
}

/** Three bytes, as `lastBytes` keeps them, that end an event (a blank line). */
const BETWEEN_EVENTS = 0x0a0a0a

/** The longest unfinished line held back; v2's `end` event (the whole answer, its references) is one line, far shorter. */
const HELD_LINE_LIMIT = 1024 * 1024

/** The index after the last LF or CR (server-sent events end lines with either), 0 without one. */
function afterLastLineEnd (bytes: Buffer): number {
  return Math.max(bytes.lastIndexOf(0x0a), bytes.lastIndexOf(0x0d)) + 1
}

function lastBytes (tail: number, chunk: Buffer): number {
  if (chunk.length >= 3) return chunk.readUIntBE(chunk.length - 3, 3)
  for (const byte of chunk) tail = ((tail << 8) | byte) & 0xffffff
  return tail
}

/**
 * What ends the event an upstream was writing when it failed: nothing after a blank line
 * (LF, CR or CRLF line ends, as server-sent events allow), one more LF after a line end, else
 * a line end and a blank line.
 */
function unfinishedEventEnd (tail: number): string {
  const two = tail & 0xffff
  if (two === 0x0a0a || two === 0x0d0d || two === 0x0a0d || tail === 0x0a0d0a) return ''
  return (tail & 0xff) === 0x0a ? '\n' : '\n\n'
}

/** Whether an answer is an event stream, which `sendUpstreamStream` checks line by line. */
function isEventStreamType (contentType: string | undefined): boolean {
  return contentType?.toLowerCase().startsWith('text/event-stream') === true
}

/** JSON answers up to this size are read and checked for token fields on the passthrough. */
const CHECKED_JSON_BYTES = 1024 * 1024

/**
 * A passthrough answer: streamed through as it is, except for JSON. A JSON document (of
 * reasonable size; token answers are small) is read first; JSON lines (ndjson, json-seq)
 * are checked line by line as they stream. Either way JSON loses any token field and any
 * credential the call carried, and, from the authentication server, any password or echoed
 * input, before it reaches the browser. Every other answer with a body (HTML, text, no type,
 * a download, a JSON document over CHECKED_JSON_BYTES, JSON lines too long to hold) loses the
 * exact credentials the call carried as it streams (credential-cutter.ts); event streams are
 * checked line by line (sendUpstreamStream). An upstream 5xx becomes 502 `upstream_error`, as
 * on the named routes. An event stream that fails mid-way ends with an error in `format`.
 */
export async function sendPassthrough (reply: FastifyReply, client: UpstreamClient, response: UpstreamResponse, format: StreamFormat = 'events'): Promise<FastifyReply> {
  if (response.statusCode >= 500) throw upstreamError(client, response)
  const kind = jsonKind(response.headers['content-type'])
  const length = Number(response.headers['content-length'] ?? Number.NaN)
  if (kind === 'lines') {
    // Cleaning may change the length: the answer goes out chunked. A line too long to hold is
    // passed on in pieces by cleanJsonLines: the cutter finds a credential split between them.
    const headers = { ...response.headers, 'content-length': undefined }
    const lines = { ...response, headers, body: pipeline(response.body, cleanJsonLines(reply.log, client.name, response.secrets), () => {}) }
    return sendUpstreamStream(reply, client.label, withCredentialsCut(reply, client, lines), format, client.name)
  }
  if (kind === undefined || length > CHECKED_JSON_BYTES) return sendUpstreamStream(reply, client.label, withCredentialsCut(reply, client, response), format, client.name)

  let head: BodyHead
  try {
    head = await readUpTo(response.body, CHECKED_JSON_BYTES)
  } catch (error) {
    throw upstreamFailure(client.label, error)
  }
  // Larger than any token answer: passed on as it comes, without the call's credentials.
  if (head.rest !== undefined) return sendUpstreamStream(reply, client.label, withCredentialsCut(reply, client, { ...response, body: Readable.from(resumed(head)) }), format, client.name)
  const { 'content-length': _length, ...headers } = headersForBrowser(reply, client.label, response)
  const cleaned = cleanJson(reply.log, client.name, Buffer.concat(head.chunks), response.secrets)
  return await reply.code(response.statusCode).headers(headers).send(cleaned)
}

/**
 * The answer with its body through the credential cutter, chunked (a cut changes its length).
 * Not for answers without a body (HEAD, 204, 304) or event streams (checked line by line), nor
 * when the call carried no credential. The BFF never forwards a Range (headers.ts): a partial
 * answer could hold part of a credential that no search recognises, and a second range the
 * rest; a 206 that comes anyway keeps its Content-Range, and is ended rather than cut.
 */
function withCredentialsCut (reply: FastifyReply, client: UpstreamClient, response: UpstreamResponse): UpstreamResponse {
  const credentials = credentialsToCut(response.secrets)
  const noBody = reply.request.method === 'HEAD' || response.statusCode === 204 || response.statusCode === 304
  if (credentials === undefined || noBody || isEventStreamType(response.headers['content-type'])) return response
  const cutter = credentialCutter(reply.log, client.name, client.label, credentials, { endInsteadOfCutting: response.headers['content-range'] !== undefined })
  return { ...response, headers: { ...response.headers, 'content-length': undefined }, body: pipeline(response.body, cutter, () => {}) }
}
