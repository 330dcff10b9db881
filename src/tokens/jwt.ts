/**
 * Reads the claims of a JWT without verifying it: the BFF is not the token's audience,
 * it only needs `exp`/`iat` to refresh in time and `sub` to know whose session it is.
 */
export interface JwtClaims {
  exp?: number
  iat?: number
  sub?: string
}

export function readJwtClaims (token: string): JwtClaims | null {
  const parts = token.split('.')
  if (parts.length !== 3 || parts[1] === undefined || parts[1].length > 8192) return null
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return null
    const { exp, iat, sub } = claims as Record<string, unknown>
    return {
      exp: typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined,
      iat: typeof iat === 'number' && Number.isFinite(iat) ? iat : undefined,
      sub: typeof sub === 'string' || typeof sub === 'number' ? String(sub) : undefined
    }
  } catch {
    return null
  }
}

/**
 * When a token stops working, in epoch milliseconds: its `exp`, or, for a token that is not
 * a JWT or has no `exp`, its issue time (`iat`, else now) plus the documented default lifetime.
 */
export function tokenExpiresAt (token: string, now: number, defaultLifetimeMs: number): number {
  const claims = readJwtClaims(token)
  if (claims?.exp !== undefined) return claims.exp * 1000
  const issuedAt = claims?.iat !== undefined ? claims.iat * 1000 : now
  return issuedAt + defaultLifetimeMs
}
