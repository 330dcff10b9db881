import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { HttpProblem } from '../errors.js'
import { readUpTo, resumed } from '../upstream/read-body.js'
import type { BodyHead } from '../upstream/read-body.js'

/** A request body on its way upstream: kept whole (so the call can be retried) or streamed. */
export type ForwardBody =
  | { kind: 'none' }
  | { kind: 'kept', data: Buffer }
  | { kind: 'streamed', stream: Readable }

export interface BodyLimits {
  /** Bodies up to this size are kept in memory, so a call refused for its token can be retried. */
  keepBytes: number
  /** Bodies over this size are refused with 413. */
  maxBytes: number
}

/**
 * Reads a raw request body for the passthrough. Small bodies are kept whole; a larger one is
 * streamed upstream as it arrives (never held in memory), which means its call cannot be
 * retried after a token refresh.
 */
export async function captureBody (raw: IncomingMessage, limits: BodyLimits): Promise<ForwardBody> {
  const declared = raw.headers['content-length']
  if (declared === undefined && raw.headers['transfer-encoding'] === undefined) return { kind: 'none' }
  if (declared !== undefined && Number(declared) > limits.maxBytes) throw tooLarge(limits.maxBytes)

  let head: BodyHead
  try {
    head = await readUpTo(raw, limits.keepBytes)
  } catch (error) {
    // The connection ended before the body did: the client left, or was cut for stalling (408).
    throw new HttpProblem(499, 'client_closed_request', 'The client closed the connection before its body arrived.', { cause: error })
  }
  let size = head.chunks.reduce((total, chunk) => total + chunk.length, 0)
  if (size > limits.maxBytes) throw tooLarge(limits.maxBytes)
  const { chunks, rest } = head
  if (rest === undefined) return size === 0 && declared === undefined ? { kind: 'none' } : { kind: 'kept', data: Buffer.concat(chunks) }

  // Too large to keep: stream it on as it arrives (letting go of what was read), still
  // counting against the limit.
  async function * counted (): AsyncGenerator<Buffer> {
    while (chunks.length > 0) yield chunks.shift() as Buffer
    for await (const chunk of resumed({ chunks: [], rest })) {
      size += chunk.length
      if (size > limits.maxBytes) throw tooLarge(limits.maxBytes)
      yield chunk
    }
  }
  return { kind: 'streamed', stream: Readable.from(counted(), { objectMode: false }) }
}

function tooLarge (maxBytes: number): HttpProblem {
  return new HttpProblem(413, 'body_too_large', `The request body is larger than ${maxBytes} bytes.`)
}
