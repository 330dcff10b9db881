import type { IncomingHttpHeaders } from 'node:http'
import { PassThrough, Transform, pipeline } from 'node:stream'
import type { Readable } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import type { Zlib } from 'node:zlib'
import { HttpProblem, problems } from '../errors.js'
import { discard } from './read-body.js'

/**
 * Compressed answers. The BFF asks every upstream for `Accept-Encoding: identity`, but an
 * upstream (or a gateway in front of it) may compress anyway, and compressed bytes cannot be
 * searched for token fields or echoed credentials. So every answer with a body is decoded as
 * it streams, whatever its type: JSON and event streams are read, every other answer (an HTML
 * page, text, a download) is searched for the call's credentials (credential-cutter.ts), and a
 * browser decodes any `Content-Encoding` itself, so an answer passed on compressed would hand
 * it what the search never saw. One whose encoding the BFF cannot decode is refused (502),
 * never passed on unsearched.
 */

type Decoder = Transform & Zlib

const DECODERS: Record<string, () => Decoder> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress
}

/** `gzip, br` (two codings applied one after the other) is legal; longer chains are not worth decoding. */
const MAX_CODINGS = 2

/**
 * A decompression bomb is cut once its decoded bytes pass this many times the encoded ones.
 * JSON compresses 5 to 20 times; a bomb, a thousand times and more. The first MiB decodes
 * whatever the ratio (a tiny but very repetitive answer is no threat), which is also as much
 * as the passthrough reads of a JSON document before deciding, so a bomb is refused before
 * any of it reaches the browser.
 */
const MAX_RATIO = 100
const FREE_DECODED_BYTES = 1024 * 1024

export interface EncodedAnswer {
  statusCode: number
  headers: IncomingHttpHeaders
  body: Readable
}

/**
 * The answer as plain bytes when it is one the BFF may search (its `Content-Encoding` and
 * `Content-Length` gone), or as it came. Throws 502 `upstream_invalid_response` (the body let
 * go) for an encoding it cannot decode; a body that turns out corrupt or a bomb fails its
 * reader with the same problem.
 */
export function decodedAnswer<T extends EncodedAnswer> (method: string, answer: T, upstream: string): T {
  const encoding = answer.headers['content-encoding']
  if (encoding === undefined || !hasBody(method, answer)) return answer
  const codings = encoding.split(',').map((coding) => coding.trim().toLowerCase()).filter((coding) => coding !== '' && coding !== 'identity')
  const { 'content-encoding': _encoding, 'content-length': _length, ...headers } = answer.headers
  if (codings.length === 0) return { ...answer, headers }
  const unknown = codings.find((coding) => !Object.hasOwn(DECODERS, coding))
  if (unknown !== undefined || codings.length > MAX_CODINGS) {
    discard(answer.body)
    throw problems.upstreamInvalidResponse(upstream, `its Content-Encoding "${encoding}" cannot be decoded`)
  }
  // Codings are listed in the order they were applied: undo the last one first.
  const decoders = codings.reverse().map((coding) => (DECODERS[coding] as () => Decoder)())
  return { ...answer, headers, body: decode(answer.body, decoders, upstream) }
}

/** No body, nothing to decode (a HEAD answer keeps the encoding its GET would have). */
function hasBody (method: string, { statusCode }: EncodedAnswer): boolean {
  return method !== 'HEAD' && statusCode !== 204 && statusCode !== 304
}

/**
 * The body through its decoders and a ratio check. Any failure on the way (corrupt or
 * truncated data, a bomb) ends the decoded stream with 502 `upstream_invalid_response` and
 * lets go of the upstream body; a reader that lets go of the decoded stream does the same.
 */
function decode (body: Readable, decoders: Decoder[], upstream: string): Readable {
  // What the first decoder has consumed, not what was handed to it: a bomb's few kilobytes
  // all arrive at once, long before they are decoded.
  const encoded = decoders[0] as Decoder
  let decoded = 0
  const out = new PassThrough()
  const bounded = new Transform({
    transform (chunk: Buffer, _encoding, done) {
      decoded += chunk.length
      if (decoded > FREE_DECODED_BYTES && decoded > MAX_RATIO * encoded.bytesWritten) {
        done(problems.upstreamInvalidResponse(upstream, `the compressed answer decodes to more than ${MAX_RATIO} times its size`))
        return
      }
      done(null, chunk)
    }
  })
  // The pipeline hands every stream in it the first error, whatever its source; the reader
  // gets `out`, outside it, which ends with what the browser should be told: a problem when
  // the data does not decode, the upstream's own failure (a reset, a timeout) as it is.
  let failedFirst: 'upstream' | 'decoder' | undefined
  body.once('error', () => { failedFirst ??= 'upstream' })
  for (const decoder of decoders) decoder.once('error', () => { failedFirst ??= 'decoder' })
  pipeline([body, ...decoders, bounded], (error) => {
    if (error === null || error === undefined || out.destroyed) return
    const undecodable = failedFirst === 'decoder' && !(error instanceof HttpProblem)
    out.destroy(undecodable ? problems.upstreamInvalidResponse(upstream, 'the compressed answer does not decode') : error)
  })
  bounded.pipe(out)
  out.once('close', () => {
    if (!out.readableEnded) bounded.destroy()
  })
  return out
}
