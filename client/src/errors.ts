/**
 * RFC 9457 problem details, as the BFF answers every error it makes itself: `code` is stable
 * and machine-readable (`not_authenticated`, `session_expired`, `not_supported`, ...).
 */
export interface Problem {
  type: string
  title: string
  status: number
  code: string
  detail?: string
  /** Which fields a `validation_failed` refused, and why. */
  errors?: Array<{ path?: string, message?: string }>
  [extension: string]: unknown
}

/**
 * A non-2xx answer. From the BFF itself it is problem JSON (`problem`, `code`); an error Ejento
 * answered passes through the BFF with its status and its own body (`{success: false, message}`,
 * FastAPI's `{detail}`), so `code` is undefined and `body` holds it as sent.
 */
export class BffError extends Error {
  override readonly name = 'BffError'
  readonly status: number
  /** The problem's stable code; undefined when the error is Ejento's own. */
  readonly code: string | undefined
  /** The human explanation: the problem's `detail`, or Ejento's `detail`/`message` when it gave one as text. */
  readonly detail: string | undefined
  /** The problem, when the BFF made this error. */
  readonly problem: Problem | undefined
  /** The answer's body: parsed JSON, or the text when it was not JSON (undefined when empty). */
  readonly body: unknown
  /** The answer's `Retry-After` in seconds (429, 503), when it gave one. */
  readonly retryAfter: number | undefined
  /** The answer's `x-request-id`: the BFF's log lines about this call carry it. */
  readonly requestId: string | undefined

  constructor (status: number, body: unknown, options: { statusText?: string, retryAfter?: number, requestId?: string } = {}) {
    const problem = isProblem(body) ? body : undefined
    const detail = textOf(body)
    super(messageOf(status, detail, problem, options.statusText))
    this.status = status
    this.body = body
    this.problem = problem
    this.code = problem?.code
    this.detail = detail
    this.retryAfter = options.retryAfter
    this.requestId = options.requestId
  }
}

/**
 * The BFF's problem details: `status` and a string `code` are what set them apart from Ejento's
 * errors. Its other fields must have the types `Problem` gives them (a broken server's `errors:
 * "oops"` would otherwise break the code that reads them): else it is a body, not a problem.
 */
export function isProblem (body: unknown): body is Problem {
  if (!isObject(body)) return false
  const { code, status, title, detail, errors } = body
  return typeof code === 'string' && typeof status === 'number' && typeof title === 'string' &&
    (detail === undefined || typeof detail === 'string') &&
    (errors === undefined || (Array.isArray(errors) && errors.every((issue) => isObject(issue) && isText(issue.path) && isText(issue.message))))
}

/** How long an error's message grows at most: a proxy's error page is not a message. */
const MAX_MESSAGE_LENGTH = 300

/** The detail, with the fields a validation refused ("email must match format "email""); else the status. */
function messageOf (status: number, detail: string | undefined, problem: Problem | undefined, statusText = ''): string {
  if (detail === undefined) return `The server answered ${status} ${statusText}`.trim()
  const issues = (problem?.errors ?? []).map((issue) => `${(issue.path ?? '').replace(/^\//, '')} ${issue.message ?? ''}`.trim())
  const message = issues.length === 0 ? detail : `${detail} ${issues.join('; ')}`
  return message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : message
}

function textOf (body: unknown): string | undefined {
  // A text body is its own detail, unless it is markup (a proxy's "502 Bad Gateway" page).
  if (typeof body !== 'object' || body === null) return typeof body === 'string' && body.trim() !== '' && !/^\s*</.test(body) ? body : undefined
  const { detail, message } = body as Record<string, unknown>
  if (typeof detail === 'string') return detail
  // FastAPI's validation errors: a list of {loc, msg}.
  if (Array.isArray(detail)) {
    const messages = detail.map((issue) => (issue as { msg?: unknown } | null)?.msg).filter((msg): msg is string => typeof msg === 'string')
    if (messages.length > 0) return messages.join('; ')
  }
  return typeof message === 'string' ? message : undefined
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isText (value: unknown): boolean {
  return value === undefined || typeof value === 'string'
}

/** The stable codes of the errors the client makes itself, before or without an answer of the BFF. */
export type ClientErrorCode =
  /** `createClient`'s `baseUrl` is not an http(s) origin with an optional path, nor a path of the page's own origin. */
  | 'invalid_base_url'
  /** An option of `createClient`, or an argument of a call, has a value it cannot take (`maxEventSize` not a positive integer, `proxy()`'s upstream neither `'ejento'` nor `'auth'`). */
  | 'invalid_option'
  /** A path given to `proxy()`, or an id in a named route's path, has a dot segment (`.`, `..`, `%2e`): the browser would resolve it before the BFF sees it. Not sent. */
  | 'unsafe_path'
  /** An event of `ask()`'s stream grew past `maxEventSize` characters: the stream was stopped (a broken or hostile server could otherwise fill the tab's memory). */
  | 'stream_event_too_large'
  /** A 2xx answer whose body is not JSON (an HTML page: `baseUrl` reaches a web server, not the BFF), or an `ask()` answered with nothing. Its `cause` is the parse error. */
  | 'invalid_answer'
  /** The call was redirected to another origin than the one it was sent to: that origin's answer is not taken for the BFF's. */
  | 'unexpected_redirect'

/**
 * An error the client makes itself: a call it refuses to send, or a stream it stops. Told apart
 * from the BFF's answers (`BffError`) by its class and its stable `code`.
 */
export class ClientError extends Error {
  override readonly name = 'ClientError'
  readonly code: ClientErrorCode

  constructor (code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}
