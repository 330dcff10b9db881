import type { IncomingHttpHeaders } from 'node:http'

/**
 * Browser headers worth passing upstream. An allowlist: the browser's Cookie and
 * Authorization (the BFF sets its own), Origin, Sec-*, X-Forwarded-* and hop-by-hop
 * headers never leave the BFF. Accept-Encoding stays behind too, so answers arrive
 * uncompressed and streams are never held back by a compressor.
 */
const FORWARDED_REQUEST_HEADERS = [
  'accept',
  'accept-language',
  'content-type',
  'content-language',
  'content-length',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'range',
  'last-event-id',
  'user-agent'
] as const

/** Upstream answer headers worth passing to the browser; Set-Cookie, WWW-Authenticate and CORS stay behind. */
const RETURNED_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-disposition',
  'content-language',
  'content-range',
  'accept-ranges',
  'etag',
  'last-modified',
  'cache-control',
  'expires',
  'retry-after',
  'location',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset'
] as const

export function forwardedRequestHeaders (headers: IncomingHttpHeaders, options: { withBodyHeaders: boolean }): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of FORWARDED_REQUEST_HEADERS) {
    if (!options.withBodyHeaders && (name === 'content-type' || name === 'content-length')) continue
    const value = headers[name]
    if (typeof value === 'string') picked[name] = value
  }
  return picked
}

export function returnedResponseHeaders (headers: IncomingHttpHeaders): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of RETURNED_RESPONSE_HEADERS) {
    const value = headers[name]
    if (typeof value === 'string') picked[name] = value
  }
  return picked
}
