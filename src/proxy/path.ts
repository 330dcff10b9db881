import { HttpProblem } from '../errors.js'
import { forbiddenPassthroughPath } from './forbidden-paths.js'

/** How many percent-decodings a path is checked through (some servers and gateways decode twice). */
const DECODINGS = 3

/**
 * The exact path and query a passthrough call sends upstream, for a request whose target
 * is `rawUrl` on the route `${prefix}/*`. Every check runs on this string, byte for byte
 * what the upstream receives, so no part of the target that a check skipped (a `#...`,
 * a stray byte) can change what the upstream reads:
 * - only RFC 3986 characters (400 `unsafe_path`), see `isSafeTarget`;
 * - no segment that is empty or a dot segment (`..`, also `..;x` or `...`), or holds a slash,
 *   backslash or control character, after any of its percent-decodings (400 `unsafe_path`);
 * - no log-in, token or sign-up path however an upstream might read it, and no change of a
 *   password or a user, which must end sessions (403 `path_forbidden`).
 */
export function passthroughTarget (rawUrl: string, prefix: string, method = 'GET'): string {
  const originForm = withoutOrigin(rawUrl)
  if (originForm === undefined || !originForm.startsWith(`${prefix}/`)) throw unsafeTarget()
  const target = originForm.slice(prefix.length)
  if (!isSafeTarget(target)) throw unsafeTarget()
  const queryAt = target.indexOf('?')
  const path = queryAt === -1 ? target : target.slice(0, queryAt)
  checkSegments(path)
  const forbidden = forbiddenInAnyReading(path, method)
  if (forbidden !== undefined) throw new HttpProblem(403, 'path_forbidden', forbidden)
  return target
}

/**
 * A request target in origin-form (`/path?query`). The absolute-form (`http://host/path`),
 * which a server must accept (RFC 9112 §3.2.2) and the router matches on its path, loses
 * its scheme and authority, on the router's conditions (http or https, a host, a URL that
 * parses); anything else (the asterisk-form) has no path here: undefined.
 */
function withoutOrigin (rawUrl: string): string | undefined {
  if (rawUrl.startsWith('/')) return rawUrl
  const origin = /^https?:\/\/[^/?#]+/i.exec(rawUrl)
  if (origin === null || !URL.canParse(rawUrl)) return undefined
  return rawUrl.slice(origin[0].length)
}

/** RFC 3986 `pchar` and `/`: unreserved, sub-delims, `:` and `@` (`%` is checked apart). */
const PATH_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/"
/**
 * RFC 3986 query characters, and those a browser sends unencoded in a query (the WHATWG
 * query percent-encode set leaves `[ ] { } | ^ \` and the backtick alone): a query never
 * moves the path, and refusing them would refuse what `fetch` sends.
 */
const QUERY_CHARACTERS = `${PATH_CHARACTERS}?[]{}|^\\\``

const IN_PATH = characterTable(PATH_CHARACTERS)
const IN_QUERY = characterTable(QUERY_CHARACTERS)

function characterTable (characters: string): Uint8Array {
  const table = new Uint8Array(128)
  for (const character of characters) table[character.charCodeAt(0)] = 1
  return table
}

/**
 * True when the target has only characters allowed where they stand, and each `%` starts
 * `%HH`. Anything else is refused rather than encoded: a raw `#` ends the path for the
 * upstream (a fragment has no place in a request target, RFC 9112 §3.2), a space splits
 * the request line, a backslash is a slash to some servers, and bytes outside ASCII are
 * read differently by each.
 */
function isSafeTarget (target: string): boolean {
  let table = IN_PATH
  for (let index = 0; index < target.length; index++) {
    const code = target.charCodeAt(index)
    if (code === 0x25) {
      if (!isHex(target.charCodeAt(index + 1)) || !isHex(target.charCodeAt(index + 2))) return false
      index += 2
    } else if (code === 0x3f && table === IN_PATH) {
      table = IN_QUERY
    } else if (code >= 128 || table[code] !== 1) {
      return false
    }
  }
  return true
}

function isHex (code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66)
}

/**
 * No segment may be a dot segment, contain a slash, backslash or control character, or be
 * empty, after any of its percent-decodings, nor read so once NFKC-normalised (a fullwidth
 * `．．` or `／` is a dot segment or a slash to servers that fold compatibility characters).
 * A segment still encoded after `DECODINGS` decodings is refused too: nothing real is
 * encoded four times, and a server that decodes that often would read past the checks.
 */
function checkSegments (path: string): void {
  const segments = path.slice(1).split('/')
  for (const [index, segment] of segments.entries()) {
    // A trailing slash is fine (FastAPI's `/api/users/`); an empty segment elsewhere is not.
    if (segment === '' && index !== segments.length - 1) throw unsafeSegment()
    let decoded = segment
    for (let round = 0; ; round++) {
      if (isUnsafeSegment(decoded) || (hasNonAscii(decoded) && isUnsafeSegment(decoded.normalize('NFKC')))) throw unsafeSegment()
      if (!decoded.includes('%')) break
      if (round === DECODINGS) throw unsafeSegment()
      try {
        decoded = decodeURIComponent(decoded)
      } catch {
        throw unsafeSegment()
      }
    }
  }
}

function isUnsafeSegment (segment: string): boolean {
  if (isDotSegment(segment)) return true
  for (let index = 0; index < segment.length; index++) {
    const code = segment.charCodeAt(index)
    // Control characters, the slash a decoding made, and the backslash some servers read as a slash.
    if (code < 0x20 || code === 0x7f || code === 0x2f || code === 0x5c) return true
  }
  return false
}

/** `.` or `..`, or what a lenient server reads as one: `...`, `..;x` (Tomcat drops `;x`), `. ` (IIS drops trailing spaces). */
function isDotSegment (segment: string): boolean {
  if (segment.charCodeAt(0) !== 0x2e) return false
  const semicolon = segment.indexOf(';')
  const name = (semicolon === -1 ? segment : segment.slice(0, semicolon)).trimEnd()
  return /^\.+$/.test(name)
}

function hasNonAscii (text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    if (text.charCodeAt(index) >= 128) return true
  }
  return false
}

/**
 * Why a checked path may not be called, in any way an upstream might read it: as sent
 * (WHATWG URL, our simulator), percent-decoded once (Starlette and most frameworks), twice
 * or three times (servers behind a decoding gateway); each as `decodedPath`'s lenient
 * reading, and, when it holds letters outside ASCII, NFKC-normalised and upper-cased too
 * (servers that fold fullwidth letters, or compare case-insensitively: `ſ` and `ı`
 * upper-case to S and I). Undefined when no reading is forbidden.
 */
function forbiddenInAnyReading (path: string, method: string): string | undefined {
  let decoded = path
  for (let round = 0; ; round++) {
    const forms = hasNonAscii(decoded) ? [decoded, decoded.normalize('NFKC'), decoded.normalize('NFKC').toUpperCase()] : [decoded]
    for (const form of forms) {
      // The lenient reading names every token path the exact one does (no token segment has a
      // `;` or a trailing dot to lose), unless a decoded `?` or `#` cut off the segments after it.
      const forbidden = forbiddenPassthroughPath(lenientPath(form), method) ?? (/[?#]/.test(form) ? forbiddenPassthroughPath(form, method) : undefined)
      if (forbidden !== undefined) return forbidden
    }
    if (round === DECODINGS || !decoded.includes('%')) return undefined
    try {
      decoded = decodeURIComponent(decoded)
    } catch {
      // Not reached for a checked path, whose segments all decode.
      return undefined
    }
  }
}

/**
 * The path as the most lenient upstream could understand it: percent-decoded up to three
 * times, cut at a decoded `?` or `#` (a server that decodes before it parses), and each
 * segment without `;parameters` and trailing dots or spaces (which some servers ignore).
 */
export function decodedPath (path: string): string {
  let decoded = path
  for (let round = 0; round < DECODINGS && decoded.includes('%'); round++) {
    try {
      decoded = decodeURIComponent(decoded)
    } catch {
      break
    }
  }
  return lenientPath(decoded)
}

/** What a lenient reading changes: a `;`, `?` or `#`, or a segment ending in a dot or whitespace. */
const LENIENT_READING_DIFFERS = /[;?#]|[.\s](?:\/|$)/

function lenientPath (path: string): string {
  // Most paths read the same either way: no need to take them apart.
  if (!LENIENT_READING_DIFFERS.test(path)) return path
  const end = path.search(/[?#]/)
  return (end === -1 ? path : path.slice(0, end)).split('/').map(lenientSegment).join('/')
}

/** A segment without `;parameters` and trailing dots or whitespace. A loop, not a regex: linear on `....x`. */
function lenientSegment (segment: string): string {
  const semicolon = segment.indexOf(';')
  let end = semicolon === -1 ? segment.length : semicolon
  while (end > 0 && (segment[end - 1] === '.' || /\s/.test(segment[end - 1] as string))) end--
  return segment.slice(0, end)
}

function unsafeTarget (): HttpProblem {
  return new HttpProblem(400, 'unsafe_path', 'The request target has a character that must be percent-encoded (such as #, a space or a byte outside ASCII), a malformed %-escape, or no path.')
}

function unsafeSegment (): HttpProblem {
  return new HttpProblem(400, 'unsafe_path', 'The path has an encoded slash, a dot segment, an empty segment or a control character.')
}
