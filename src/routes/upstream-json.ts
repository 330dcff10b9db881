import type { FastifyReply } from 'fastify'
import { HttpProblem, problems } from '../errors.js'
import { safeBytes } from '../proxy/clean-answer.js'
import { headersForBrowser, upstreamError } from '../proxy/answer-head.js'
import type { UpstreamClient, UpstreamResponse } from '../upstream/client.js'
import { carriesCredential, parseKeepingNumbers, sanitised, withoutCredentials } from '../upstream/sanitize.js'

/**
 * The named routes' JSON answers: the upstream's own bytes whenever the BFF has nothing to take
 * out of them, so that the browser reads exactly what Ejento wrote (an id beyond 2^53, a
 * `__proto__` key, `1.0`); re-written only when a field or credential had to go.
 */

/** What a route does once the upstream said yes (ends sessions, say); its fields join an object answer. */
export type AfterSuccess = (answer: unknown) => Promise<Record<string, unknown> | undefined>

/** An upstream answer as read: its bytes and their JSON value (`null`, and the bytes `null`, for a body that is not JSON). */
export interface UpstreamJson {
  bytes: Buffer
  value: unknown
}

const NOT_JSON: UpstreamJson = { bytes: Buffer.from('null'), value: null }

/**
 * Reads a JSON answer whole. An upstream 5xx becomes 502 `upstream_error` (its body unread); a
 * success that is not JSON, 502 `upstream_invalid_response`; any other answer that is not JSON reads as null.
 */
export async function readUpstreamJson (client: UpstreamClient, response: UpstreamResponse): Promise<UpstreamJson> {
  if (response.statusCode >= 500) throw upstreamError(client, response)
  const bytes = await client.readBytes(response)
  if (bytes.length === 0) return NOT_JSON
  try {
    return { bytes, value: JSON.parse(bytes.toString('utf8')) }
  } catch {
    if (response.statusCode >= 200 && response.statusCode < 300) throw problems.upstreamInvalidResponse(client.label, 'the answer is not JSON')
    return NOT_JSON
  }
}

export interface SendOptions {
  afterSuccess?: AfterSuccess
  /** Credentials of the call beyond those the client knows (a sign-up's password): never in the answer either. */
  secrets?: readonly string[]
}

/** Reads the upstream's JSON answer and passes it back (see `sendUpstreamAnswer`). */
export async function sendUpstreamJson (reply: FastifyReply, client: UpstreamClient, response: UpstreamResponse, options: SendOptions = {}): Promise<FastifyReply> {
  return await sendUpstreamAnswer(reply, client, response, await readUpstreamJson(client, response), options)
}

/**
 * Passes an upstream JSON answer back with its status, as application/json. The bytes go as
 * they came unless something must be taken out: any token field, and from the authentication
 * server any password or echoed input (`sanitised`); any credential the call carried. The body
 * is only re-serialised when a field was removed, a credential was spelled with escapes, or
 * `afterSuccess` adds fields. Even then every number stays as written (`parseKeepingNumbers`)
 * and every key stays a key, `__proto__` included.
 *
 * A refusal must be the upstream's error object (the document's `UpstreamError`): any other
 * (no JSON, or a bare JSON string such as FastAPI's `"email already used"`) becomes a problem
 * `upstream_rejected` at the upstream's status, its sentence, if any, the detail.
 */
export async function sendUpstreamAnswer (reply: FastifyReply, client: UpstreamClient, response: UpstreamResponse, answer: UpstreamJson, options: SendOptions = {}): Promise<FastifyReply> {
  const secrets = [...response.secrets ?? [], ...options.secrets ?? []]
  if (response.statusCode >= 400 && !isObject(answer.value)) throw refusal(client, response.statusCode, answer.value, secrets)
  const { 'content-length': _length, 'content-type': _type, ...headers } = headersForBrowser(reply, client.label, response, secrets)
  const { value: safe, removed } = sanitised(answer.value, client.name)
  const extra = options.afterSuccess !== undefined && response.statusCode < 300 ? await options.afterSuccess(safe) : undefined
  const joins = extra !== undefined && isObject(safe)

  let payload: Buffer
  if (removed === 0 && !joins && !escapedCredential(answer, secrets)) {
    payload = safeBytes(reply.log, client.name, answer.bytes, secrets)
  } else {
    if (removed > 0) reply.log.warn({ upstream: client.name, removed }, 'secret fields removed from an upstream answer')
    // Parsed again, keeping the numbers as written: the common answer never pays for that.
    let rewritten = sanitised(parseKeepingNumbers(answer.bytes.toString('utf8')), client.name).value
    if (joins && isObject(rewritten)) rewritten = { ...rewritten, ...extra }
    payload = safeBytes(reply.log, client.name, Buffer.from(JSON.stringify(rewritten)), secrets)
  }
  return await reply.code(response.statusCode).headers(headers).type('application/json; charset=utf-8').send(payload)
}

const BACKSLASH = 0x5c

/**
 * A credential the bytes spell with escapes (`\u0065yJ...`, `\/`) that any JSON reader decodes:
 * searching the bytes would miss it, so such an answer is re-written plainly and searched.
 */
function escapedCredential (answer: UpstreamJson, secrets: readonly string[]): boolean {
  return secrets.length > 0 && answer.bytes.includes(BACKSLASH) && carriesCredential(JSON.stringify(answer.value) ?? '', secrets)
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The longest upstream sentence a refusal problem repeats. */
const MAX_DETAIL = 1000

/** A refusal that is not the upstream's error object, as a problem; a bare sentence is its detail, without any credential the call carried. */
function refusal (client: UpstreamClient, status: number, value: unknown, secrets: readonly string[]): HttpProblem {
  const said = typeof value === 'string' && value.trim() !== ''
    ? withoutCredentials(Buffer.from(value), secrets).bytes.toString('utf8').slice(0, MAX_DETAIL)
    : undefined
  return new HttpProblem(status, 'upstream_rejected', said ?? `The ${client.label} server refused the call (status ${status}).`)
}
