/**
 * Whether an upstream refusal means "this token is no good" (refresh and retry once) rather
 * than "you may not" (pass on). Both servers answer a dead token with 401 or 403, but a 403
 * is also how FastAPI says a normal user may not act as an admin; that one must not cost a
 * refresh. A 403 counts as a token failure when its message is about credentials or tokens,
 * or when it has no readable message at all.
 */
const TOKEN_FAILURE_MESSAGE = /credential|token|expired|not authenticated|unauthori[sz]ed|signature|jwt|invalid session/i

export function isTokenFailure (status: number, body: unknown): boolean {
  if (status === 401) return true
  if (status !== 403) return false
  const message = messageOf(body)
  return message === undefined || TOKEN_FAILURE_MESSAGE.test(message)
}

function messageOf (body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const { detail, message } = body as { detail?: unknown, message?: unknown }
  if (typeof detail === 'string') return detail
  if (typeof message === 'string') return message
  return undefined
}
