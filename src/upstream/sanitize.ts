import { problems } from '../errors.js'

/** Keys whose values must never reach a browser, wherever the authentication server puts them. */
const SECRET_KEYS = new Set(['password', 'hashed_password', 'current_password', 'new_password', 'access_token', 'ejento_access_token', 'refresh_token', 'id_token', 'token'])

/**
 * Deeper answers are refused rather than cut: no real API nests this deep, and walking (or
 * serialising) far deeper would run out of stack.
 */
const MAX_DEPTH = 256

/** Bearer-token keys: removed from any upstream's JSON answer, whatever the path. */
const TOKEN_KEYS = new Set(['access_token', 'ejento_access_token', 'refresh_token', 'id_token'])

/**
 * A copy of an authentication-server answer that is safe to pass to the browser: no password
 * or token fields, and no `input` in FastAPI validation errors (pydantic echoes the rejected
 * value there, which may be a password).
 */
export function withoutSecrets (value: unknown): unknown {
  return sanitised(value, 'auth').value
}

/**
 * An upstream answer made safe for the browser, and how many fields that removed: from the
 * authentication server, every secret field (above); from the Ejento API server, which holds
 * no passwords, bearer-token fields only.
 */
export function sanitised (value: unknown, upstream: 'auth' | 'ejento'): { value: unknown, removed: number } {
  const count = { removed: 0 }
  try {
    const safe = strip(value, upstream === 'auth' ? SECRET_KEYS : TOKEN_KEYS, upstream === 'auth', 0, count)
    return { value: safe, removed: count.removed }
  } catch (error) {
    if (!(error instanceof TooDeep)) throw error
    throw problems.upstreamInvalidResponse(upstream === 'auth' ? 'authentication' : 'Ejento API', `the JSON is nested deeper than ${MAX_DEPTH} levels`)
  }
}

/**
 * The answer with every credential the call carried cut out, wherever it appears (a debug
 * endpoint echoing request headers, an error trace): key names alone cannot catch those.
 * Works on the bytes, so an answer in any encoding passes otherwise untouched.
 */
export function withoutCredentials (bytes: Buffer, secrets: readonly string[] | undefined): { bytes: Buffer, removed: number } {
  let removed = 0
  for (const secret of secrets ?? []) {
    if (secret.length < 8) continue
    let at = bytes.indexOf(secret)
    if (at === -1) continue
    const parts: Buffer[] = []
    let from = 0
    while (at !== -1) {
      parts.push(bytes.subarray(from, at), WITHHELD)
      removed += 1
      from = at + Buffer.byteLength(secret)
      at = bytes.indexOf(secret, from)
    }
    parts.push(bytes.subarray(from))
    bytes = Buffer.concat(parts)
  }
  return { bytes, removed }
}

const WITHHELD = Buffer.from('[withheld]')

/** A JSON value without secret fields (as `withoutSecrets`) and without these exact credentials anywhere in it. */
export function withoutSecretsOrCredentials (value: unknown, secrets: readonly string[]): unknown {
  const safe = withoutSecrets(value)
  const cleaned = withoutCredentials(Buffer.from(JSON.stringify(safe) ?? 'null'), secrets)
  return cleaned.removed === 0 ? safe : JSON.parse(cleaned.bytes.toString('utf8'))
}

class TooDeep extends Error {}

function strip (value: unknown, keys: ReadonlySet<string>, dropValidationInput: boolean, depth: number, count: { removed: number }): unknown {
  if (depth > MAX_DEPTH) throw new TooDeep()
  if (Array.isArray(value)) return value.map((item) => strip(item, keys, dropValidationInput, depth + 1, count))
  if (typeof value !== 'object' || value === null) return value
  const safe: Record<string, unknown> = {}
  const isValidationIssue = dropValidationInput && 'loc' in value && 'msg' in value
  for (const [key, item] of Object.entries(value)) {
    if (keys.has(key.toLowerCase()) || (isValidationIssue && key === 'input')) {
      count.removed += 1
      continue
    }
    safe[key] = strip(item, keys, dropValidationInput, depth + 1, count)
  }
  return safe
}
