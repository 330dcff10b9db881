import type { IncomingHttpHeaders } from 'node:http'

/**
 * The answer's headers with the fields the BFF reads as one string made one, or undefined when
 * they cannot be. undici hands a field sent on several lines over as an array, where code that
 * reads it as a string either fails (a repeated Content-Encoding was a 500 internal_error) or
 * looks past it (a repeated Content-Type let a JSON answer through the passthrough unsearched).
 * - Content-Encoding is a list (RFC 9110 §8.4): its lines join into one, in order.
 * - Content-Type is a single value (§8.3): repeated as it is, it is that value; two different
 *   ones leave no way to tell what the body is (undefined: an answer the BFF cannot use).
 */
export function withRepeatedFieldsJoined (headers: IncomingHttpHeaders): IncomingHttpHeaders | undefined {
  const encoding = headers['content-encoding']
  const type = headers['content-type'] as string | string[] | undefined
  if (!Array.isArray(encoding) && !Array.isArray(type)) return headers
  const joined: IncomingHttpHeaders = { ...headers }
  if (Array.isArray(encoding)) joined['content-encoding'] = encoding.join(', ')
  if (Array.isArray(type)) {
    const distinct = new Set(type.map((value) => value.trim().toLowerCase()))
    if (distinct.size !== 1) return undefined
    joined['content-type'] = type[0]
  }
  return joined
}
