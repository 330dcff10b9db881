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
 */
export function withoutCredentials (text: string, secrets: readonly string[] | undefined): { text: string, removed: number } {
  let removed = 0
  for (const secret of secrets ?? []) {
    if (secret.length < 8 || !text.includes(secret)) continue
    const parts = text.split(secret)
    removed += parts.length - 1
    text = parts.join('[withheld]')
  }
  return { text, removed }
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
