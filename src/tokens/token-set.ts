import { readJwtClaims, tokenExpiresAt } from './jwt.js'

/** The two bearer tokens of one log-in, with the times they stop working. */
export interface TokenSet {
  /** For the authentication server. */
  authToken: string
  authExpiresAt: number
  /** For the Ejento API server. */
  ejentoToken: string
  ejentoExpiresAt: number
  /** When the BFF received them, epoch ms; bounds the refresh skew for short-lived tokens. */
  obtainedAt: number
}

/**
 * Reads a log-in or refresh answer in either shape Ejento uses:
 * flat `{access_token, ejento_access_token}` or envelope `{success, data: {...}}`.
 * Returns null when the answer holds no usable pair.
 */
export function parseTokenAnswer (body: unknown, now: number, defaultLifetimeMs: number): TokenSet | null {
  if (typeof body !== 'object' || body === null) return null
  const record = body as Record<string, unknown>
  const source = typeof record.data === 'object' && record.data !== null && !('access_token' in record)
    ? record.data as Record<string, unknown>
    : record
  const authToken = source.access_token
  const ejentoToken = source.ejento_access_token
  if (!isToken(authToken) || !isToken(ejentoToken)) return null
  return {
    authToken,
    authExpiresAt: tokenExpiresAt(authToken, now, defaultLifetimeMs),
    ejentoToken,
    ejentoExpiresAt: tokenExpiresAt(ejentoToken, now, defaultLifetimeMs),
    obtainedAt: now
  }
}

/** The upstream's id for the user a token was issued to, when the token says. */
export function tokenSubject (token: string): string | undefined {
  const subject = readJwtClaims(token)?.sub
  // An empty `sub` names nobody: such users would otherwise share one owner key (their sessions listed together).
  return typeof subject === 'string' && subject.trim() !== '' ? subject : undefined
}

function isToken (value: unknown): value is string {
  // A bearer token is printable ASCII without spaces; anything else would corrupt a header.
  return typeof value === 'string' && value.length > 0 && value.length <= 16_384 && /^[\x21-\x7e]+$/.test(value)
}

/**
 * True when the pair should be refreshed before use: either token expires within the skew.
 * The skew is capped at half the tokens' lifetime, so that short-lived tokens are not
 * refreshed on every request.
 */
export function needsRefresh (tokens: TokenSet, now: number, skewMs: number): boolean {
  const expiresAt = Math.min(tokens.authExpiresAt, tokens.ejentoExpiresAt)
  const skew = Math.min(skewMs, Math.max(0, (expiresAt - tokens.obtainedAt) / 2))
  return expiresAt - skew <= now
}
