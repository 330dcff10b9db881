import { Transform } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import type { UpstreamName } from '../upstream/client.js'
import { carriesCredential, parseKeepingNumbers, sanitised, withoutCredentials } from '../upstream/sanitize.js'

/**
 * What an upstream JSON answer loses before a browser sees it: token fields (and, from the
 * authentication server, passwords and echoed input), and the exact credentials the call
 * carried, wherever they appear. For whole documents and for JSON lines as they stream.
 */

/** The bytes without any credential the call carried; each removal is logged (never the value). */
export function safeBytes (log: FastifyBaseLogger, upstream: UpstreamName, bytes: Buffer, secrets: readonly string[] | undefined): Buffer {
  const cleaned = withoutCredentials(bytes, secrets)
  if (cleaned.removed > 0) log.warn({ upstream, removed: cleaned.removed }, 'credentials the call carried were cut out of the upstream answer')
  return cleaned.bytes
}

/**
 * The JSON without token fields (logged when any), and without the call's credentials. Bytes
 * that are not JSON, or JSON that needed no change, pass on as they came, byte for byte.
 */
export function cleanJson (log: FastifyBaseLogger, upstream: UpstreamName, bytes: Buffer, secrets: readonly string[] | undefined): Buffer {
  let parsed: unknown
  // A leading byte order mark is not JSON, but a browser's JSON reader (fetch's json()) drops it.
  const text = withoutBom(bytes.toString('utf8'))
  try {
    parsed = JSON.parse(text)
  } catch {
    return safeBytes(log, upstream, bytes, secrets)
  }
  const { value, removed } = sanitised(parsed, upstream)
  if (removed === 0) {
    // A string may spell a credential with escapes (`\u0065yJ...`, `\/`) that the bytes do not
    // show but any JSON reader decodes: then the parsed value, written plainly, is searched.
    if (!bytes.includes(BACKSLASH)) return safeBytes(log, upstream, bytes, secrets)
    if (!carriesCredential(JSON.stringify(value) ?? '', secrets)) return safeBytes(log, upstream, bytes, secrets)
    // Re-written plainly, read again keeping every number as written (an id beyond 2^53, 1.0), as the named routes do.
    const plain = withoutCredentials(Buffer.from(JSON.stringify(parseKeepingNumbers(text))), secrets)
    log.warn({ upstream, removed: plain.removed }, 'credentials the call carried were cut out of the upstream answer')
    return plain.bytes
  }
  log.warn({ upstream, removed }, 'secret fields removed from a passthrough answer')
  // Re-written, numbers kept as written (above).
  return safeBytes(log, upstream, Buffer.from(JSON.stringify(sanitised(parseKeepingNumbers(text), upstream).value)), secrets)
}

function withoutBom (text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

const BACKSLASH = 0x5c

/** Longest JSON line held back to be checked whole; a longer one passes on as it comes. */
const MAX_JSON_LINE_BYTES = 1024 * 1024

/**
 * Checks newline-delimited JSON (ndjson, JSON Lines, json-seq) line by line as it streams:
 * each complete line is cleaned like a JSON document and passed on at once, so the stream
 * is never held back longer than one line.
 */
export function cleanJsonLines (log: FastifyBaseLogger, upstream: UpstreamName, secrets: readonly string[] | undefined): Transform {
  let pending: Buffer = Buffer.alloc(0)
  const cleanLine = (line: Buffer): Buffer => {
    // json-seq starts a record with RS (0x1e); the line end is kept as it was.
    const start = line[0] === 0x1e ? 1 : 0
    const end = line.at(-1) === 0x0a ? (line.at(-2) === 0x0d ? line.length - 2 : line.length - 1) : line.length
    return Buffer.concat([line.subarray(0, start), cleanJson(log, upstream, line.subarray(start, end), secrets), line.subarray(end)])
  }
  return new Transform({
    transform (chunk: Buffer, _encoding, done) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      const out: Buffer[] = []
      let from = 0
      for (let newline = pending.indexOf(0x0a); newline !== -1; newline = pending.indexOf(0x0a, from)) {
        out.push(cleanLine(pending.subarray(from, newline + 1)))
        from = newline + 1
      }
      pending = pending.subarray(from)
      if (pending.length > MAX_JSON_LINE_BYTES) {
        out.push(safeBytes(log, upstream, pending, secrets))
        pending = Buffer.alloc(0)
      }
      done(null, out.length === 0 ? undefined : Buffer.concat(out))
    },
    flush (done) {
      done(null, pending.length === 0 ? undefined : cleanLine(pending))
    }
  })
}

/**
 * `document`: one JSON value, read whole (`application/json`, `text/json`, `+json`...).
 * `lines`: a stream of JSON values (ndjson, JSON Lines, json-seq), checked line by line.
 */
export function jsonKind (contentType: string | string[] | undefined): 'document' | 'lines' | undefined {
  if (typeof contentType !== 'string') return undefined
  const type = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? ''
  if (!type.includes('json')) return undefined
  return /ndjson|jsonl|json-seq|jsonlines|json-stream/.test(type) ? 'lines' : 'document'
}
