import { isIP } from 'node:net'
/** Value parsers for environment variables. Each throws a plain message; `loadConfig` names the variable. */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 }

/** `90s`, `15m`, `2h`, `7d`, `500ms`; a bare number means seconds. */
export function parseDuration (value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(value.trim())
  if (match === null) throw new Error(`must be a duration such as 500ms, 30s, 15m, 2h or 7d (got "${value}")`)
  const unit = (match[2] ?? 's').toLowerCase()
  return Math.round(Number(match[1]) * (DURATION_UNITS[unit] as number))
}

/** `1mb`, `512kb`, `1048576`; a bare number means bytes. */
export function parseBytes (value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i.exec(value.trim())
  const factor = BYTE_UNITS[(match?.[2] ?? 'b').toLowerCase()]
  if (match === null || factor === undefined) throw new Error(`must be a size such as 1048576, 512kb or 1mb (got "${value}")`)
  return Math.round(Number(match[1]) * factor)
}

const TRUE_WORDS = ['true', '1', 'yes', 'on']
const FALSE_WORDS = ['false', '0', 'no', 'off']

export function parseBoolean (value: string): boolean {
  const normalised = value.trim().toLowerCase()
  if (TRUE_WORDS.includes(normalised)) return true
  if (FALSE_WORDS.includes(normalised)) return false
  throw new Error(`must be true or false: one of ${TRUE_WORDS.join(', ')} for true, ${FALSE_WORDS.join(', ')} for false, in any case (got "${value}")`)
}

export function parseInteger (value: string, min: number, max: number): number {
  const trimmed = value.trim()
  const parsed = Number(trimmed)
  if (!/^-?\d+$/.test(trimmed) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new Error(`must be an integer from ${min} to ${max} (got "${value}")`)
  }
  return parsed
}

/** An http(s) base URL without query or fragment; a trailing slash is dropped so paths join cleanly. */
export function parseBaseUrl (value: string): URL {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    // Not echoed: an unparseable URL may still carry a password.
    throw new Error('must be an absolute http or https URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`must use http or https (got "${url.protocol}")`)
  if (url.search !== '' || url.hash !== '') throw new Error('must not have a query or fragment')
  if (url.username !== '' || url.password !== '') throw new Error('must not carry credentials; use EJENTO_SUBSCRIPTION_KEY for the gateway key')
  url.pathname = url.pathname.replace(/\/+$/, '')
  return url
}

/** A browser origin: scheme, host and optional port, nothing else. */
export function parseOrigin (value: string, index = 0, count = 1): string {
  // Named by its position, never echoed: an origin written with credentials (`https://user:pass@app.example`) would print its password.
  const which = count > 1 ? `entry ${index + 1} of ${count}` : 'the value'
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw new Error(`must list origins such as https://app.example.com: ${which} is not a URL`)
  }
  // Browsers send origins lower-cased, so compare (and keep) them that way.
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== value.trim().replace(/\/$/, '').toLowerCase()) {
    throw new Error(`must list bare origins such as https://app.example.com (http or https, no credentials, path, query or fragment): ${which} is not one`)
  }
  return url.origin
}

/**
 * Where browsers reach the BFF: an http(s) origin with an optional path prefix
 * (`https://chat.example.com`, `https://example.com/chat`), without credentials, query or
 * fragment; answered without a trailing slash, so that `/auth/...` joins cleanly.
 */
export function parsePublicUrl (value: string): string {
  const trimmed = value.trim()
  let url: URL
  try {
    url = new URL(trimmed)
  } catch {
    // Not echoed: an unparseable URL may still carry a password.
    throw new Error('must be an absolute http or https URL such as https://chat.example.com')
  }
  if (url.username !== '' || url.password !== '') throw new Error('must not carry credentials')
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`must use http or https (got "${url.protocol}")`)
  // A bare "?" or "#" leaves URL's search and hash empty: look at the text too.
  if (url.search !== '' || url.hash !== '' || /[?#]/.test(trimmed)) throw new Error(`must not have a query or fragment (got "${value}")`)
  // The path as written must be the path the browser gets back: nothing URL would rewrite
  // (dot segments, backslashes, spaces), no empty segment, no encoded slash.
  const path = url.pathname.replace(/\/+$/, '')
  const written = trimmed.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').replace(/\/+$/, '')
  if (written !== path || path.includes('//') || /%2f|%5c/i.test(path)) {
    throw new Error(`must be an origin with an optional plain path prefix such as https://example.com/chat (got "${value}")`)
  }
  return `${url.origin}${path}`
}

export function parseList (value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '')
}

/** proxy-addr's names for address ranges: 127.0.0.0/8 and ::1; 169.254/16 and fe80::/10; 10/8, 172.16/12, 192.168/16 and fc00::/7. */
const TRUSTED_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/**
 * Fastify's `trustProxy`: true/false, or the load balancer's addresses, CIDRs or range names
 * (`loopback`, `linklocal`, `uniquelocal`). A hop count is refused: Fastify 5 trusts nobody
 * for one (the peer it would trust is not checked), so `TRUST_PROXY=1` silently made every
 * client look like the balancer and every request plain http.
 */
export function parseTrustProxy (value: string): boolean | string {
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) {
    throw new Error(`must name the load balancer's addresses, not a hop count (got "${value}"): for example loopback, uniquelocal or 10.0.0.0/8 (Fastify 5 trusts nobody for a hop count)`)
  }
  if (/^(?:true|false|yes|no|on|off)$/i.test(trimmed)) return parseBoolean(trimmed)
  const entries = parseList(trimmed)
  if (entries.length === 0 || !entries.every(isTrustedEntry)) {
    throw new Error(`must be true, false, or the load balancer's addresses, CIDRs or loopback/linklocal/uniquelocal (got "${value}")`)
  }
  return entries.map((entry) => entry.toLowerCase()).join(',')
}

function isTrustedEntry (entry: string): boolean {
  if (TRUSTED_RANGE_NAMES.has(entry.toLowerCase())) return true
  const [address = '', prefix, ...extra] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || extra.length > 0) return false
  if (prefix === undefined) return true
  if (!/^\d{1,3}$/.test(prefix)) return false
  return Number(prefix) <= (family === 4 ? 32 : 128)
}
