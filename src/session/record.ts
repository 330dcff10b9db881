import type { TokenSet } from '../tokens/token-set.js'
import type { ClientInfo } from './client-info.js'

/** Who is logged in, as the browser may see it. */
export interface SessionUser {
  /** The upstream's user id (the tokens' `sub`), when the tokens carry one. */
  id?: string
  email: string
  /** The name the upstream's who-am-I gave at log-in; absent when it did not answer (or records older than it). */
  fullName?: string
}

/** What one session keeps server-side. Serialised, then encrypted, before any store sees it. */
export interface SessionRecord {
  user: SessionUser
  tokens: TokenSet
  /** Log-in time, epoch ms: the absolute lifetime counts from here. */
  createdAt: number
  /** The client that logged in, as the user's list of sessions shows it. */
  client?: ClientInfo
}

/** The sessions of one user share an owner key, so that they can all be ended at once. */
export function ownerOf (user: SessionUser): string {
  return user.id ?? `email:${user.email.toLowerCase()}`
}

export function serialiseRecord (record: SessionRecord): string {
  const { user, tokens, createdAt, client } = record
  return JSON.stringify({
    u: user,
    t: [tokens.authToken, tokens.authExpiresAt, tokens.ejentoToken, tokens.ejentoExpiresAt, tokens.obtainedAt],
    c: createdAt,
    ...(client === undefined ? {} : { m: [client.device, client.address] })
  })
}

export function parseRecord (json: string): SessionRecord | null {
  try {
    const raw = JSON.parse(json) as { u?: SessionUser, t?: [string, number, string, number, number], c?: number, m?: [string, string] }
    if (raw.u === undefined || !Array.isArray(raw.t) || raw.t.length !== 5 || typeof raw.c !== 'number') return null
    const [authToken, authExpiresAt, ejentoToken, ejentoExpiresAt, obtainedAt] = raw.t
    const record: SessionRecord = { user: readUser(raw.u), tokens: { authToken, authExpiresAt, ejentoToken, ejentoExpiresAt, obtainedAt }, createdAt: raw.c }
    if (Array.isArray(raw.m) && raw.m.length === 2) record.client = { device: String(raw.m[0]), address: String(raw.m[1]) }
    return record
  } catch {
    return null
  }
}

/** The stored user as this version reads it: records written before `fullName` existed stay readable. */
function readUser (stored: SessionUser): SessionUser {
  const user: SessionUser = { email: stored.email }
  if (stored.id !== undefined) user.id = stored.id
  if (typeof stored.fullName === 'string') user.fullName = stored.fullName
  return user
}
