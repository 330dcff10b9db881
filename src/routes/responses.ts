/** Response schemas shared by the routes, so that /docs lists every answer, errors included. */

/** A problem made by the BFF (RFC 9457), served as application/problem+json. */
export const problem = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string', description: 'Stable, machine-readable' },
    detail: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } }
  },
  required: ['type', 'title', 'status', 'code'],
  additionalProperties: true
} as const

/** Untyped on purpose: an upstream's answer passes through as it is, whatever its shape. */
export const upstreamAnswer = {
  description: "The upstream's answer, passed through with its status"
} as const

const PROBLEM_CODES: Record<number, string> = {
  400: 'validation_failed, invalid_json, json_too_deep, invalid_body, unsafe_path, insecure_transport, bad_url',
  401: 'not_authenticated, session_expired, invalid_credentials',
  403: 'csrf_rejected, account_inactive, path_forbidden',
  404: 'not_found',
  413: 'body_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited (see Retry-After)',
  501: 'not_supported (the path profile\'s upstream has no such call; nothing was sent upstream)',
  502: 'upstream_unavailable, upstream_error, upstream_invalid_response, upstream_key_refused',
  503: 'store_unavailable, shutting_down, refresh_busy, refresh_pending',
  504: 'upstream_timeout'
}

/** Problem answers for these statuses, each described with the codes it may carry. */
export function problemResponses (...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((status) => [status, { ...problem, description: `Problem: ${PROBLEM_CODES[status] ?? 'see code'}` }]))
}

/** Answers that are either a BFF problem or the upstream's own error passed through. */
export function problemOrUpstreamResponses (...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((status) => [status, {
    description: `A BFF problem (${PROBLEM_CODES[status] ?? 'see code'}) or the upstream's own error, passed through`
  }]))
}
