/** Keys whose values must never reach a browser, wherever the authentication server puts them. */
const SECRET_KEYS = new Set(['password', 'hashed_password', 'current_password', 'new_password', 'access_token', 'ejento_access_token', 'refresh_token', 'token'])

/**
 * A copy of an authentication-server answer that is safe to pass to the browser: no password
 * or token fields, and no `input` in FastAPI validation errors (pydantic echoes the rejected
 * value there, which may be a password).
 */
export function withoutSecrets (value: unknown, depth = 0): unknown {
  if (depth > 32) return null
  if (Array.isArray(value)) return value.map((item) => withoutSecrets(item, depth + 1))
  if (typeof value !== 'object' || value === null) return value
  const safe: Record<string, unknown> = {}
  const isValidationIssue = 'loc' in value && 'msg' in value
  for (const [key, item] of Object.entries(value)) {
    if (SECRET_KEYS.has(key.toLowerCase())) continue
    if (isValidationIssue && key === 'input') continue
    safe[key] = withoutSecrets(item, depth + 1)
  }
  return safe
}
