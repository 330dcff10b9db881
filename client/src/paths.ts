import { ClientError } from './errors.js'

/*
 * A URL parser (the browser's fetch, Node.js's) removes dot segments from a path before the
 * request leaves: `/proxy/ejento/api/../../auth/x` is sent as `/auth/x`, out of the passthrough
 * the caller meant. The BFF refuses every dot segment it receives (400 `unsafe_path`), but it
 * never receives these; so the client refuses them before sending.
 */

/**
 * What the WHATWG URL parser takes for `.` or `..`: a segment of dots and `%2e`s, once the tabs
 * and line breaks it drops (and, to be safe, spaces and other control characters, which it drops
 * at the ends of the address) are left out.
 */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i
// eslint-disable-next-line no-control-regex
const IGNORED = /[\u0000-\u0020\u007f]/g

export function isDotSegment (segment: string): boolean {
  return DOT_SEGMENT.test(segment.replace(IGNORED, ''))
}

/** True when the path part of `target` (before `?` or `#`) has a dot segment; `\` separates segments too, as in a browser. */
export function hasDotSegment (target: string): boolean {
  const path = target.replace(IGNORED, '').split(/[?#]/, 1)[0] ?? ''
  return path.split(/[/\\]/).some(isDotSegment)
}

/** Refuses a path with a dot segment (ClientError `unsafe_path`), before anything is sent. */
export function assertNoDotSegment (path: string): void {
  if (hasDotSegment(path)) throw new ClientError('unsafe_path', 'The path has a dot segment (".", "..", "%2e"), which the browser would resolve before the BFF sees it: not sent.')
}

/** An id (or name) as one path segment, encoded; `.` and `..` are refused (ClientError `unsafe_path`). */
export function segment (id: string | number): string {
  const encoded = encodeURIComponent(String(id))
  if (isDotSegment(encoded)) throw new ClientError('unsafe_path', 'An id in the path is "." or "..", which the browser would resolve before the BFF sees it: not sent.')
  return encoded
}
