import type { FastifyBaseLogger } from 'fastify'
import { HttpProblem } from '../errors.js'
import type { UpstreamName } from '../upstream/client.js'
import { carriesCredential } from '../upstream/sanitize.js'
import { cleanJson, safeBytes } from './clean-answer.js'

/**
 * Credentials cut out of an event stream as it passes, line by line: the JSON path's rules
 * (clean-answer.ts) applied to each line. Every line loses the exact credentials the call
 * carried (the session's tokens, the gateway key), replaced by the JSON path's `[withheld]`;
 * a `data:` line holding JSON also loses token fields, and a credential spelled with `\u` or
 * `\/` escapes, exactly as a JSON answer does. Lines, not chunks: a token the upstream wrote
 * in two pieces is whole once its line is (send.ts holds a line until its line end).
 *
 * Limit: a JSON document spread over several `data:` lines is checked line by line, so a token
 * field split from its value is not removed (the exact-value search still applies). Ejento
 * writes each event's JSON on one line.
 */

/**
 * What makes a line worth parsing: the end of a key the JSON path removes (every one of them,
 * for either upstream, ends in `token` or `password`; keys are compared without case), or an
 * escape that can spell a credential's characters: `\/`, and `\u` for a character below 128
 * (tokens and keys are ASCII; an answer in another language, written with `\u` escapes by a
 * Python JSON writer, is then not parsed line by line). The other escapes only give quotes,
 * backslashes and control characters, which the JSON path would not find either.
 */
const NEEDS_A_LOOK = /token"|password"|\\\/|\\u00[0-7]/i

/** The same, for a credential with a character beyond ASCII: any `\u` escape may spell it. */
const NEEDS_A_LOOK_ANY_ESCAPE = /token"|password"|\\[u/]/i

/** Cleans a run of whole lines (each with its line end; the stream's last may lack one). */
export type StreamLineCleaner = (lines: Buffer) => Buffer

/**
 * A cleaner for one stream. The common case, no credential and nothing that looks like a
 * token field or an escape anywhere in the run, costs one string search per credential and one
 * regular-expression scan over the run's bytes, and answers the same buffer; only a run with a hit is split into
 * lines, and only a `data:` line with a key or an escape is parsed.
 */
export function streamLineCleaner (log: FastifyBaseLogger, upstream: UpstreamName, secrets: readonly string[] | undefined): StreamLineCleaner {
  const credentials = (secrets ?? []).filter((secret) => secret.length >= 8)
  // The bytes of each credential as a latin1 string: searching one string made of the run's
  // bytes is several times cheaper than one Buffer search per credential, and finds the same.
  const credentialBytes = credentials.map((credential) => Buffer.from(credential).toString('latin1'))
  const needsALook = credentials.some((credential) => [...credential].some((character) => character.charCodeAt(0) > 0x7f)) ? NEEDS_A_LOOK_ANY_ESCAPE : NEEDS_A_LOOK
  let streamLog: FastifyBaseLogger | undefined
  return (lines) => {
    const text = lines.toString('latin1')
    if (!credentialBytes.some((credential) => text.includes(credential)) && !needsALook.test(text)) return lines
    streamLog ??= firstWarningOnly(log.child({ answer: 'event stream', laterWarningsOfThisStream: 'not logged' }))
    return cleanLines(streamLog, upstream, credentials, needsALook, lines)
  }
}

/**
 * The log with only its first warning written: an upstream that echoes the token in every event
 * would otherwise write one log line per event, a flood of the operator's logs it controls.
 */
function firstWarningOnly (log: FastifyBaseLogger): FastifyBaseLogger {
  let warned = false
  const once: FastifyBaseLogger = Object.create(log) as FastifyBaseLogger
  once.warn = ((...args: Parameters<FastifyBaseLogger['warn']>) => {
    if (warned) return
    warned = true
    log.warn(...args)
  }) as FastifyBaseLogger['warn']
  return once
}

const LF = 0x0a
const CR = 0x0d

function cleanLines (log: FastifyBaseLogger, upstream: UpstreamName, credentials: readonly string[], needsALook: RegExp, lines: Buffer): Buffer {
  const parts: Buffer[] = []
  let changed = false
  let from = 0
  while (from < lines.length) {
    // Server-sent events end a line with LF, CR or CRLF; line ends pass as they came.
    let end = from
    while (end < lines.length && lines[end] !== LF && lines[end] !== CR) end += 1
    const next = lines[end] === CR && lines[end + 1] === LF ? end + 2 : Math.min(end + 1, lines.length)
    const line = lines.subarray(from, end)
    const clean = cleanLine(log, upstream, credentials, needsALook, line)
    if (clean !== line) changed = true
    parts.push(clean, lines.subarray(end, next))
    from = next
  }
  return changed ? Buffer.concat(parts) : lines
}

const DATA = Buffer.from('data:')

/** A UTF-8 byte order mark: an event-stream reader drops it before the stream's first field. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf])

function cleanLine (log: FastifyBaseLogger, upstream: UpstreamName, credentials: readonly string[], needsALook: RegExp, line: Buffer): Buffer {
  // Any line, not only the stream's first, may start with the mark: more lines checked, never fewer.
  const field = line.subarray(0, BOM.length).equals(BOM) ? BOM.length : 0
  const isData = line.subarray(field, field + DATA.length).equals(DATA)
  if (!isData || !needsALook.test(line.toString('latin1'))) return safeBytes(log, upstream, line, credentials)
  // The field's value starts after one optional space, as an event-stream reader takes it.
  const start = line[field + DATA.length] === 0x20 ? field + DATA.length + 1 : field + DATA.length
  const value = line.subarray(start)
  let cleaned: Buffer
  try {
    cleaned = cleanJson(log, upstream, value, credentials)
  } catch (error) {
    if (!(error instanceof HttpProblem)) throw error
    // JSON nested too deep to check (the JSON path refuses such an answer): the line becomes a
    // comment, which every reader skips, so that the event around it keeps its shape.
    log.warn({ upstream, reason: error.message }, 'an event-stream line that could not be checked for token fields was withheld')
    return WITHHELD_LINE
  }
  // A value that is not JSON on its own (one line of a document spread over several data lines)
  // may still spell a credential with escapes that the reader decodes once the lines are joined.
  if (cleaned.includes(BACKSLASH) && carriesCredential(unescaped(cleaned.toString('utf8')), credentials)) {
    log.warn({ upstream }, 'an event-stream line spelling a credential with escapes was withheld')
    return WITHHELD_LINE
  }
  return cleaned === value ? line : Buffer.concat([line.subarray(0, start), cleaned])
}

const BACKSLASH = 0x5c

/** The text with JSON's `\uXXXX` and `\/` escapes decoded, as a JSON reader would (other escapes cannot spell a credential). */
function unescaped (text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\\//g, (_escape, hex?: string) => hex === undefined ? '/' : String.fromCharCode(Number.parseInt(hex, 16)))
}

const WITHHELD_LINE = Buffer.from(': [withheld]')
