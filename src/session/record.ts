import type { TokenSet } from '../tokens/token-set.js'

/** Who is logged in, as the browser may see it. */
export interface SessionUser {
  /** The upstream's user id (the tokens' `sub`), when the tokens carry one. */
  id?: string
  email: string
}

/** What one session keeps server-side. Serialised, then encrypted, before any store sees it. */
export interface SessionRecord {
  user: SessionUser
  tokens: TokenSet
  /** Log-in time, epoch ms: the absolute lifetime counts from here. */
  createdAt: number
}

/** The sessions of one user share an owner key, so that they can all be ended at once. */
export function ownerOf (user: SessionUser): string {
  return user.id ?? `email:${user.email.toLowerCase()}`
}

export function serialiseRecord (record: SessionRecord): string {
  const { user, tokens, createdAt } = record
  return JSON.stringify({
    u: user,
    t: [tokens.authToken, tokens.authExpiresAt, tokens.ejentoToken, tokens.ejentoExpiresAt, tokens.obtainedAt],
    c: createdAt
  })
}

export function parseRecord (json: string): SessionRecord | null {
  try {
    const raw = JSON.parse(json) as { u?: SessionUser, t?: [string, number, string, number, number], c?: number }
    if (raw.u === undefined || !Array.isArray(raw.t) || raw.t.length !== 5 || typeof raw.c !== 'number') return null
    const [authToken, authExpiresAt, ejentoToken, ejentoExpiresAt, obtainedAt] = raw.t
    return { user: raw.u, tokens: { authToken, authExpiresAt, ejentoToken, ejentoExpiresAt, obtainedAt }, createdAt: raw.c }
  } catch {
    return null
  }
}
