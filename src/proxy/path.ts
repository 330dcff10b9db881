import { HttpProblem } from '../errors.js'

/**
 * Checks a passthrough path before it is sent upstream: after any number of percent-decodings
 * (up to three; some servers decode twice), no segment may be `.` or `..`, contain a slash,
 * backslash or control character, or be empty. The path is forwarded as the browser encoded
 * it; this only decides whether it may be.
 */
export function checkedPassthroughPath (rawPath: string): string {
  const path = rawPath === '' ? '/' : rawPath
  if (!path.startsWith('/')) throw unsafe()
  const segments = path.slice(1).split('/')
  for (const [index, segment] of segments.entries()) {
    // A trailing slash is fine (FastAPI's `/api/users/`); an empty segment elsewhere is not.
    if (segment === '' && index !== segments.length - 1) throw unsafe()
    let decoded = segment
    for (let round = 0; round < 3; round++) {
      if (isUnsafeSegment(decoded)) throw unsafe()
      if (!decoded.includes('%')) break
      try {
        decoded = decodeURIComponent(decoded)
      } catch {
        throw unsafe()
      }
      if (decoded.includes('/')) throw unsafe()
    }
    if (isUnsafeSegment(decoded)) throw unsafe()
  }
  return path
}

/**
 * The path as the most lenient upstream could understand it, for checks like the token-path
 * refusal: percent-decoded up to three times (as checkedPassthroughPath allows), and each
 * segment without `;parameters` and trailing dots or spaces (which some servers ignore).
 */
export function decodedPath (path: string): string {
  let decoded = path
  for (let round = 0; round < 3 && decoded.includes('%'); round++) {
    try {
      decoded = decodeURIComponent(decoded)
    } catch {
      break
    }
  }
  return decoded.split('/').map(lenientSegment).join('/')
}

/** A segment without `;parameters` and trailing dots or whitespace. A loop, not a regex: linear on `....x`. */
function lenientSegment (segment: string): string {
  const semicolon = segment.indexOf(';')
  let end = semicolon === -1 ? segment.length : semicolon
  while (end > 0 && (segment[end - 1] === '.' || /\s/.test(segment[end - 1] as string))) end--
  return segment.slice(0, end)
}

function isUnsafeSegment (segment: string): boolean {
  if (segment === '.' || segment === '..') return true
  for (let index = 0; index < segment.length; index++) {
    const code = segment.charCodeAt(index)
    // Control characters and the backslash some servers read as a slash.
    if (code < 0x20 || code === 0x7f || code === 0x5c) return true
  }
  return false
}

function unsafe (): HttpProblem {
  return new HttpProblem(400, 'unsafe_path', 'The path has an encoded slash, a dot segment, an empty segment or a control character.')
}
