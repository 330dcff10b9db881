import { Transform } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import { problems } from '../errors.js'
import type { UpstreamName } from '../upstream/client.js'

/**
 * The exact credentials a call carried (the session's bearer token, the gateway key), cut out
 * of an answer the BFF does not otherwise read (an HTML error page, plain text, a download,
 * JSON too large to check whole) as it streams, each replaced by the `[withheld]` that the
 * JSON path writes (sanitize.ts). A credential split across chunks is found: a chunk's last
 * bytes are held back while they could be the start of one, never more than the longest
 * credential's length less one, and in the common case (the chunk does not end with the start
 * of a credential) none are, so a stream is not delayed. Each chunk without a hit costs one
 * `Buffer.indexOf` per credential and is passed on as the same buffer, uncopied.
 */

/** As in sanitize.ts: shorter strings are too common to cut wherever they appear (and no credential is this short). */
const MIN_SECRET_LENGTH = 8

const WITHHELD = Buffer.from('[withheld]')

export interface CutterOptions {
  /**
   * For an answer whose bytes are counted by its headers (a 206's Content-Range): a cut would
   * make them lie, so instead of cutting, the answer is ended (the stream fails with 502
   * `upstream_invalid_response`, or, once bytes have left, the connection is cut).
   */
  endInsteadOfCutting?: boolean
}

/** The credentials worth cutting (as bytes), or undefined when there are none. */
export function credentialsToCut (secrets: readonly string[] | undefined): Buffer[] | undefined {
  const credentials = (secrets ?? []).filter((secret) => secret.length >= MIN_SECRET_LENGTH).map((secret) => Buffer.from(secret))
  return credentials.length === 0 ? undefined : credentials
}

/** A Transform that passes an answer on without `credentials` (from `credentialsToCut`); one warning per answer when it cut any (never the value). */
export function credentialCutter (log: FastifyBaseLogger, upstream: UpstreamName, label: string, credentials: readonly Buffer[], options: CutterOptions = {}): Transform {
  let held: Buffer | undefined
  let warned = false
  const cut = (data: Buffer, final: boolean): { out: Buffer, held: Buffer | undefined } | Error => {
    const parts: Buffer[] = []
    let from = 0
    for (;;) {
      // The earliest credential from `from` (there are one to three).
      let at = -1
      let length = 0
      for (const credential of credentials) {
        const found = data.indexOf(credential, from)
        if (found !== -1 && (at === -1 || found < at)) {
          at = found
          length = credential.length
        }
      }
      if (at === -1) break
      if (options.endInsteadOfCutting === true) {
        log.warn({ upstream }, 'a partial upstream answer held a credential the call carried; it was ended instead of passed on')
        return problems.upstreamInvalidResponse(label, 'a partial answer held a credential of the call')
      }
      if (!warned) {
        warned = true
        log.warn({ upstream, answer: 'passthrough, not JSON-checked' }, 'credentials the call carried were cut out of the upstream answer')
      }
      parts.push(data.subarray(from, at), WITHHELD)
      from = at + length
    }
    const rest = from === 0 ? data : data.subarray(from)
    const keep = final ? 0 : heldBack(rest, credentials)
    if (parts.length === 0 && keep === 0) return { out: data, held: undefined }
    parts.push(rest.subarray(0, rest.length - keep))
    // A copy: a held slice of a big chunk would keep the whole chunk in memory.
    return { out: Buffer.concat(parts), held: keep === 0 ? undefined : Buffer.from(rest.subarray(rest.length - keep)) }
  }
  return new Transform({
    transform (chunk: Buffer, _encoding, done) {
      const result = cut(held === undefined ? chunk : Buffer.concat([held, chunk]), false)
      if (result instanceof Error) {
        done(result)
        return
      }
      held = result.held
      done(null, result.out.length === 0 ? undefined : result.out)
    },
    flush (done) {
      if (held === undefined) {
        done()
        return
      }
      const result = cut(held, true)
      held = undefined
      if (result instanceof Error) done(result)
      else done(null, result.out)
    }
  })
}

/**
 * How many of the last bytes of `data` to hold back: the longest end of it that is the start
 * of a credential (shorter than that credential; whole ones are cut already), 0 if none.
 */
function heldBack (data: Buffer, credentials: readonly Buffer[]): number {
  let longest = 0
  for (const credential of credentials) {
    const from = Math.max(0, data.length - (credential.length - 1))
    // Candidates are found by the credential's first few bytes (one native search), then the
    // last few positions, too short for that probe, are compared one by one.
    const probe = Math.min(4, credential.length - 1)
    const needle = credential.subarray(0, probe)
    let found = 0
    for (let at = data.indexOf(needle, from); at !== -1; at = data.indexOf(needle, at + 1)) {
      if (credential.compare(data, at, data.length, 0, data.length - at) === 0) {
        found = data.length - at
        break
      }
    }
    if (found === 0) {
      for (let at = Math.max(from, data.length - probe + 1); at < data.length; at += 1) {
        if (credential.compare(data, at, data.length, 0, data.length - at) === 0) {
          found = data.length - at
          break
        }
      }
    }
    if (found > longest) longest = found
  }
  return longest
}
