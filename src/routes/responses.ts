/**
 * Response entries shared by the routes, so that /docs lists every answer, errors included, each
 * with its media type and schema (the schemas themselves are in ./schemas.ts).
 */
import { documentRef, ref } from './schemas.js'
import type { SchemaId } from './schemas.js'

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
  503: 'store_unavailable, shutting_down, refresh_busy, refresh_pending, upstream_quota_exceeded',
  504: 'upstream_timeout'
}

const problemContent = { 'application/problem+json': { schema: ref('Problem') } }

/** A problem answer (application/problem+json) with this description. */
export function problemAnswer (description: string): Record<string, unknown> {
  return { description, content: problemContent }
}

/** Problem answers for these statuses, each described with the codes it may carry. */
export function problemResponses (...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((status) => [status, problemAnswer(`Problem: ${PROBLEM_CODES[status] ?? 'see code'}`)]))
}

const problemOrUpstreamContent = { ...problemContent, 'application/json': { schema: ref('UpstreamError') } }

/** Answers that are either a BFF problem or the upstream's own error, passed through (its media type tells which). */
export function problemOrUpstreamResponses (...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((status) => [status, {
    description: `A BFF problem (${PROBLEM_CODES[status] ?? 'see code'}), or the upstream's own error object passed through (a problem upstream_rejected when the upstream refused in another shape: no JSON, or a bare sentence, which is then the detail)`,
    content: problemOrUpstreamContent
  }]))
}

/**
 * Any other refusal of the upstream: the BFF passes a 4xx on with its status and JSON error
 * object (a problem `upstream_rejected` when the body was not one: no JSON, or a bare sentence).
 */
export const upstreamRefusals = {
  '4xx': {
    description: 'Another refusal of the upstream, passed through with its status and error object (a problem `upstream_rejected` at the same status when the body was not one: no JSON, or a bare JSON string, which becomes the problem\'s detail)',
    content: problemOrUpstreamContent
  }
} as const

/** The upstream's JSON answer, passed through with its status, described by a shared schema. */
export function upstreamJson (schema: SchemaId, description: string): Record<string, unknown> {
  return { description, content: { 'application/json': { schema: ref(schema) } } }
}

/**
 * The upstream's success, at the status Ejento documents (`status`) or any other 2xx it chose:
 * the BFF passes the status on as it came.
 */
export function upstreamSuccess (status: number, schema: SchemaId, description: string): Record<string, unknown> {
  return {
    [status]: upstreamJson(schema, description),
    '2xx': upstreamJson(schema, `${description} (another success status the upstream chose, passed on)`)
  }
}

/** The passthrough's `*`: the upstream path and query, as typed (see passthroughPathAsTyped in plugins/docs.ts for /docs). */
export function passthroughParams (example: string): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      '*': { type: 'string', description: `The upstream path and query that follow the prefix, e.g. ${example}; in /docs, type them as they are (slashes included)` }
    }
  }
}

const anyContent = { '*/*': { schema: {} } }

/** The passthrough's answers: whatever the upstream answered, but a 5xx (502) and the BFF's own refusals. */
const passthroughSuccess = {
  description: 'The upstream\'s answer: its status, headers and body as they came (JSON loses any token field; an Ejento event stream is as described on POST /api/agents/{agentId}/responses)',
  content: anyContent
}

export const passthroughResponses = {
  // 200 named as well: swagger-ui's "Try it out" calls an answer whose exact status is not listed "Undocumented".
  200: passthroughSuccess,
  '2xx': passthroughSuccess,
  '3xx': { description: 'The upstream\'s redirect, passed through', content: anyContent },
  ...Object.fromEntries([400, 401, 403, 404, 413].map((status) => [status, {
    description: `A BFF problem (${PROBLEM_CODES[status] ?? 'see code'}), or the upstream's own answer passed through`,
    content: { ...problemContent, ...anyContent }
  }])),
  '4xx': { description: 'The upstream\'s own refusal, passed through', content: { ...problemContent, ...anyContent } }
} as const

/** An answer without a body. */
export function noContent (description: string): Record<string, unknown> {
  return { type: 'null', description }
}

/**
 * The guide's events are named (`event: <name>`); v2's are not (SSE's default name, `message`),
 * their `step` tells them apart. Each name's `data` schema, for readers and checkers of the stream.
 */
const STREAM_EVENTS = {
  start: documentRef('GuideStreamStart'),
  token: documentRef('GuideStreamToken'),
  end: documentRef('GuideStreamEnd'),
  error: documentRef('GuideStreamError'),
  message: documentRef('V2StreamEvent')
}

/**
 * An agent's answer: JSON, or a server-sent-event stream. OpenAPI 3.1 has no vocabulary for
 * event streams: the `text/event-stream` schema is that of ONE event's `data`, and the media
 * type's `x-sse-events` maps each event name to its own.
 */
export const agentAnswerOrStream = {
  description: [
    'The upstream\'s answer, passed through with its status: JSON (`AgentAnswer`), or, when the request asks `Accept: text/event-stream`, a server-sent-event stream forwarded as it arrives.',
    'OpenAPI has no vocabulary for event streams: the `text/event-stream` schema is that of one event\'s `data` (JSON), and `x-sse-events` names each event and its own schema.',
    'Guide profile: named events `start`, `token` (`{delta}`), `end` (`{output}`), `error`.',
    'v2 profile: unnamed events (`data:` lines only), switched on `step`: `tools_stream` and `assistant_stream` (`{step, delta}`), `reflection_end` and `reflection_skip` (`{step, message}`), `end` (`{step, success, output}`), `error` (`{step, message}`); any other step is a status `{step, message}`; the stream ends when its connection closes.',
    'When the upstream fails mid-stream, the BFF ends the stream with an error of its own in the stream\'s format: guide `event: error` + `data: {"code":"upstream_stream_failed","message":...}`; v2 `data: {"step":"error","message":...,"code":"upstream_stream_failed"}`.'
  ].join('\n\n'),
  content: {
    'application/json': { schema: ref('AgentAnswer') },
    'text/event-stream': {
      schema: ref('AgentStreamEvent'),
      'x-sse-events': STREAM_EVENTS
    }
  }
} as const
