/** Keys whose values must never reach a browser, wherever the authentication server puts them. */
const SECRET_KEYS = new Set(['password', 'hashed_password', 'current_password', 'new_password', 'access_token', 'ejento_access_token', 'refresh_token', 'id_token', 'token'])

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
  const safe = strip(value, upstream === 'auth' ? SECRET_KEYS : TOKEN_KEYS, upstream === 'auth', 0, count)
  return { value: safe, removed: count.removed }
}

function strip (value: unknown, keys: ReadonlySet<string>, dropValidationInput: boolean, depth: number, count: { removed: number }): unknown {
  if (depth > 32) return null
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
