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
    if (secret.length < MIN_SECRET_LENGTH) continue
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

/** Shorter strings are too common to cut wherever they appear (and no credential is this short). */
const MIN_SECRET_LENGTH = 8

/** Whether the text holds one of these credentials, as `withoutCredentials` would cut it. */
export function carriesCredential (text: string, secrets: readonly string[] | undefined): boolean {
  return secrets?.some((secret) => secret.length >= MIN_SECRET_LENGTH && text.includes(secret)) === true
}

/** A JSON value without secret fields (as `withoutSecrets`) and without these exact credentials anywhere in it. */
export function withoutSecretsOrCredentials (value: unknown, secrets: readonly string[]): unknown {
  const safe = withoutSecrets(value)
  const cleaned = withoutCredentials(Buffer.from(JSON.stringify(safe) ?? 'null'), secrets)
  return cleaned.removed === 0 ? safe : JSON.parse(cleaned.bytes.toString('utf8'))
}

/**
 * Parses upstream JSON keeping every number as the upstream wrote it (`12345678901234567890`,
 * `1.0`): such a number becomes a raw JSON value (ES2025 `JSON.rawJSON`, read with the
 * parse's source text) that `JSON.stringify` writes back unchanged, where a plain parse would
 * round it to a double. For answers that must be re-written (a field was removed): slower than
 * `JSON.parse`, so only then. Other code reading such a value sees the raw wrapper, not a number.
 */
export function parseKeepingNumbers (text: string): unknown {
  return JSON.parse(text, keepNumberSource as Reviver)
}

type Reviver = (this: unknown, key: string, value: unknown) => unknown

/** JSON.parse-with-source and JSON.rawJSON (Node.js 21+), not yet in TypeScript's lib. */
const RawJson = JSON as unknown as {
  rawJSON: (text: string) => object
  isRawJSON: (value: unknown) => boolean
}

function keepNumberSource (_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined || String(value) === context.source) return value
  return RawJson.rawJSON(context.source)
}

class TooDeep extends Error {}

/**
 * The value without the given keys, copied. `__proto__` is defined, not assigned: it stays a key
 * of the copy (an assignment would set the copy's prototype and lose the key). Raw JSON
 * numbers (`parseKeepingNumbers`) are kept as they are.
 */
function strip (value: unknown, keys: ReadonlySet<string>, dropValidationInput: boolean, depth: number, count: { removed: number }): unknown {
  if (depth > MAX_DEPTH) throw new TooDeep()
  if (Array.isArray(value)) return value.map((item) => strip(item, keys, dropValidationInput, depth + 1, count))
  if (typeof value !== 'object' || value === null || RawJson.isRawJSON(value)) return value
  const safe: Record<string, unknown> = {}
  const isValidationIssue = dropValidationInput && 'loc' in value && 'msg' in value
  for (const [key, item] of Object.entries(value)) {
    if (keys.has(key.toLowerCase()) || (isValidationIssue && key === 'input')) {
      count.removed += 1
      continue
    }
    const copy = strip(item, keys, dropValidationInput, depth + 1, count)
    if (key === '__proto__') Object.defineProperty(safe, key, { value: copy, enumerable: true, writable: true, configurable: true })
    else safe[key] = copy
  }
  return safe
}
