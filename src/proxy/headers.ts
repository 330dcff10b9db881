import type { IncomingHttpHeaders } from 'node:http'
import type { UpstreamName } from '../upstream/client.js'

/** Where each upstream is reachable through the passthrough. */
export const PASSTHROUGH_PREFIX: Record<UpstreamName, string> = { ejento: '/proxy/ejento', auth: '/proxy/auth' }

/**
 * Browser headers worth passing upstream. An allowlist: the browser's Cookie and
 * Authorization (the BFF sets its own), Origin, Sec-*, X-Forwarded-* and hop-by-hop
 * headers never leave the BFF. Accept-Encoding stays behind too, so answers arrive
 * uncompressed and streams are never held back by a compressor. So does Range: a partial
 * answer could hold part of a credential, too little for the answer's credential search to
 * recognise, and another range the rest (send.ts, withCredentialsCut); answers come whole.
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
  'last-event-id',
  'user-agent'
] as const

/**
 * Upstream answer headers worth passing to the browser; Set-Cookie, WWW-Authenticate and CORS
 * stay behind. So do Cache-Control and Expires: every answer here was made with one user's
 * token, and a `public` from upstream would let a shared cache serve it to someone else
 * (the cache-control plugin answers `no-store`; event streams say `no-cache`). Accept-Ranges
 * too: the BFF does not forward a Range.
 */
const RETURNED_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-disposition',
  'content-language',
  'content-range',
  'etag',
  'last-modified',
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

/**
 * Removes every header that holds a credential the call carried, as sent or percent-encoded:
 * a redirect to another host that appends the token to its query, an ETag or a file name made
 * of it. Answers the names removed. Bodies are searched the same way (sanitize.ts); headers
 * are dropped whole, since a cut value (a Location) would mean something else.
 */
export function withholdEchoedCredentials (headers: Record<string, string>, secrets: readonly string[] | undefined): string[] {
  // As in bodies, a credential shorter than this would match by chance.
  const credentials = (secrets ?? []).filter((secret) => secret.length >= 8)
  if (credentials.length === 0) return []
  const withheld: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    const readings = [value, percentDecoded(value)]
    if (credentials.some((secret) => readings.some((reading) => reading.includes(secret)))) {
      delete headers[name]
      withheld.push(name)
    }
  }
  return withheld
}

/** Each `%HH` as its character: credentials are ASCII, and a malformed escape elsewhere must not hide one. */
function percentDecoded (value: string): string {
  return value.includes('%') ? value.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))) : value
}

/**
 * An upstream `Location` as the browser should follow it. A redirect to either upstream's
 * host (absolute in any scheme, FastAPI behind TLS termination says `http://`, or a path
 * from the root, like FastAPI's trailing-slash 307) goes through that upstream's passthrough
 * instead, so the browser neither learns an internal host nor leaves the BFF. Relative
 * references already resolve under the passthrough; other hosts stay as they are. A place
 * on an upstream's host that no passthrough reaches, or a value that does not parse, is
 * withheld (undefined).
 */
export function browserLocation (location: string, from: UpstreamName, upstreams: Record<UpstreamName, { baseUrl: URL }>): string | undefined {
  const isAbsolute = /^[a-z][a-z0-9+.-]*:/i.test(location) || location.startsWith('//')
  if (!isAbsolute && !location.startsWith('/')) return location
  let target: URL
  try {
    target = new URL(location, upstreams[from].baseUrl)
  } catch {
    return undefined
  }
  // The redirecting upstream first: when both share a gateway host, its own base path wins ties.
  const candidates = [from, ...(Object.keys(upstreams) as UpstreamName[]).filter((name) => name !== from)]
  for (const name of candidates) {
    const base = upstreams[name].baseUrl
    if (!sameService(base, target)) continue
    const basePath = base.pathname.replace(/\/$/, '')
    if (basePath === '' || target.pathname === basePath || target.pathname.startsWith(`${basePath}/`)) {
      return `${PASSTHROUGH_PREFIX[name]}${target.pathname.slice(basePath.length) || '/'}${target.search}${target.hash}`
    }
  }
  // An upstream's host, but nothing a passthrough reaches: not for the browser's eyes.
  if (candidates.some((name) => upstreams[name].baseUrl.hostname === target.hostname)) return undefined
  return location
}

/** Same host and port, or same host in the other scheme (an upstream behind TLS termination names itself `http://`). */
function sameService (base: URL, target: URL): boolean {
  return base.hostname === target.hostname && (base.protocol !== target.protocol || base.port === target.port)
}
