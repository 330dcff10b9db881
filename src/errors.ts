/**
 * Errors the BFF answers itself, as RFC 9457 problem details with a stable `code`.
 * Codes are part of the public contract: add new ones, never rename.
 */
export interface ProblemBody {
  type: string
  title: string
  status: number
  code: string
  detail?: string
  [extension: string]: unknown
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout'
}

export class HttpProblem extends Error {
  readonly statusCode: number
  readonly code: string
  readonly detail: string | undefined
  readonly extensions: Record<string, unknown>
  readonly headers: Record<string, string>

  constructor (status: number, code: string, detail?: string, options: { extensions?: Record<string, unknown>, headers?: Record<string, string>, cause?: unknown } = {}) {
    super(detail ?? code, { cause: options.cause })
    this.name = 'HttpProblem'
    this.statusCode = status
    this.code = code
    this.detail = detail
    this.extensions = options.extensions ?? {}
    this.headers = options.headers ?? {}
  }

  toJSON (): ProblemBody {
    return problemBody(this.statusCode, this.code, this.detail, this.extensions)
  }
}

export function problemBody (status: number, code: string, detail?: string, extensions: Record<string, unknown> = {}): ProblemBody {
  const body: ProblemBody = { type: 'about:blank', title: TITLES[status] ?? 'Error', status, code }
  if (detail !== undefined) body.detail = detail
  return Object.assign(body, extensions)
}

/** The problems the BFF raises in more than one place. */
export const problems = {
  notAuthenticated: () => new HttpProblem(401, 'not_authenticated', 'Log in first: this route needs a session.'),
  sessionExpired: () => new HttpProblem(401, 'session_expired', 'The session has ended because Ejento refused to refresh its tokens. Log in again.'),
  invalidCredentials: () => new HttpProblem(401, 'invalid_credentials', 'Incorrect email or password.'),
  csrfRejected: (why: string) => new HttpProblem(403, 'csrf_rejected', why),
  storeUnavailable: (cause?: unknown) => new HttpProblem(503, 'store_unavailable', 'The session store is unavailable. Try again shortly.', { cause, headers: { 'retry-after': '1' } }),
  upstreamUnavailable: (upstream: string, cause?: unknown) => new HttpProblem(502, 'upstream_unavailable', `The ${upstream} server could not be reached.`, { cause }),
  upstreamTimeout: (upstream: string, cause?: unknown) => new HttpProblem(504, 'upstream_timeout', `The ${upstream} server did not answer in time.`, { cause }),
  upstreamInvalidResponse: (upstream: string, why: string) => new HttpProblem(502, 'upstream_invalid_response', `The ${upstream} server sent an answer the BFF cannot use: ${why}.`),
  upstreamError: (upstream: string, status: number) => new HttpProblem(502, 'upstream_error', `The ${upstream} server failed with status ${status}.`),
  /** The configured path profile's upstream has no such call: never a guessed path. */
  notSupported: (profile: string, what: string) => new HttpProblem(501, 'not_supported', `The Ejento upstream of path profile "${profile}" has no call for ${what}; EJENTO_PATH_PROFILE=v2 (hosted Ejento) has it.`)
}
