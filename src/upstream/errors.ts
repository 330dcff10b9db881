import { errors } from 'undici'
import { HttpProblem, problems } from '../errors.js'

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])
/** Answers that arrived but break HTTP's rules: headers past undici's limit, a body longer or shorter than its Content-Length. */
const MALFORMED_CODES = new Set(['UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'])

/** What the browser is told when a call to an upstream fails before an answer arrives. */
export function upstreamFailure (upstream: string, error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error
  // AbortSignal.timeout(): a deadline of our own on the whole call.
  if ((error as { name?: unknown } | null)?.name === 'TimeoutError') return problems.upstreamTimeout(upstream, error)
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return problems.upstreamTimeout(upstream, error)
  // Bytes that are not HTTP: undici names llhttp's error (HPE_*) only when llhttp has a name for it.
  const malformed = error instanceof errors.HTTPParserError || (typeof code === 'string' && (code.startsWith('HPE_') || MALFORMED_CODES.has(code)))
  if (malformed) return problems.upstreamInvalidResponse(upstream, 'malformed HTTP')
  return problems.upstreamUnavailable(upstream, error)
}

/** True for the error undici raises when our own AbortSignal (the browser left) cancelled the call. */
export function isAbort (error: unknown): boolean {
  const { code, name } = (error ?? {}) as { code?: unknown, name?: unknown }
  return code === 'UND_ERR_ABORTED' || name === 'AbortError'
}
