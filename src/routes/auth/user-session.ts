import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { HttpProblem, problems } from '../../errors.js'
import { coarseAddress, describeDevice } from '../../session/client-info.js'
import type { SessionUser } from '../../session/record.js'
import { parseTokenAnswer, tokenSubject } from '../../tokens/token-set.js'
import type { TokenSet } from '../../tokens/token-set.js'

/** A log-in waits this long at most for who-am-I: a slow one must not hold a password log-in for the upstream's full timeout. */
const WHO_AM_I_LIMIT_MS = 10_000

/** The user as answers show it (`full_name` in the upstream's spelling). */
export interface BrowserUser {
  id?: string
  email: string
  full_name?: string
}

/** What every log-in answers: `POST /auth/login`, `POST /auth/passwordless/verify`. */
export interface SessionAnswer {
  authenticated: true
  user: BrowserUser
  expiresAt: string
}

export interface UserSessionOptions {
  /** How the user logged in, for the log line. */
  method: 'password' | 'passwordless' | 'sso'
  /**
   * The address the user logged in with. Without it (SSO), who-am-I must answer with one, or
   * the tokens are refused (401 `tokens_invalid`); with it, a failing who-am-I only leaves the
   * full name out.
   */
  email?: string
  defaultTokenLifetimeMs: number
}

/**
 * Turns an upstream answer holding both tokens into a logged-in session, as every log-in
 * method does: reads the tokens, asks who-am-I for the full name (and the address, when the
 * method has none), starts a brand-new session (replacing the browser's previous one) and
 * answers who is logged in. Never a token.
 */
export async function startUserSession (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, tokenAnswer: unknown, options: UserSessionOptions): Promise<SessionAnswer> {
  const now = Date.now()
  const tokens = parseTokenAnswer(tokenAnswer, now, options.defaultTokenLifetimeMs)
  if (tokens === null) throw problems.upstreamInvalidResponse('authentication', 'the log-in answered without both tokens')

  const identity = await whoAmI(app, request, tokens, options.email === undefined)
  const email = options.email ?? identity?.email
  if (email === undefined) throw new HttpProblem(401, 'tokens_invalid', 'Ejento did not recognise the tokens of this log-in.')

  const subject = tokenSubject(tokens.authToken)
  const user: SessionUser = subject === undefined ? { email } : { id: subject, email }
  if (identity?.fullName !== undefined) user.fullName = identity.fullName
  const client = { device: describeDevice(request.headers['user-agent']), address: coarseAddress(request.ip) }
  const session = await reply.startSession({ user, tokens, createdAt: now, client })
  request.log.info({ userId: user.id, method: options.method }, 'logged in')
  return { authenticated: true, user: browserUser(user), expiresAt: new Date(session.expiresAt).toISOString() }
}

/** The session's user as the browser sees it. */
export function browserUser (user: SessionUser): BrowserUser {
  const shown: BrowserUser = { email: user.email }
  if (user.id !== undefined) shown.id = user.id
  if (user.fullName !== undefined) shown.full_name = user.fullName
  return shown
}

interface Identity {
  email: string | undefined
  fullName: string | undefined
}

/**
 * Who the tokens belong to, from the profile's who-am-I (the guide's on the authentication
 * server with the auth-app token, v2's on the API server with the Ejento token). Null when it
 * does not answer 200 with a user; when `required`, its failures (unreachable, 5xx) are thrown,
 * otherwise logged and answered as null.
 */
async function whoAmI (app: FastifyInstance, request: FastifyRequest, tokens: TokenSet, required: boolean): Promise<Identity | null> {
  const target = app.upstreamPaths.whoAmI
  if (target === undefined) {
    if (required) throw problems.notSupported(app.upstreamPaths.name, 'who-am-I')
    return null
  }
  const client = target.upstream === 'auth' ? app.upstreams.auth : app.upstreams.ejento
  const token = target.upstream === 'auth' ? tokens.authToken : tokens.ejentoToken
  let answer: { statusCode: number, body: unknown }
  try {
    answer = await client.requestJson({
      method: 'GET',
      path: target.path,
      headers: { authorization: `Bearer ${token}` },
      requestId: request.id,
      signal: AbortSignal.timeout(WHO_AM_I_LIMIT_MS)
    })
  } catch (error) {
    if (required) throw error
    request.log.warn({ code: (error as { code?: unknown }).code }, 'who-am-I failed after log-in: the session has no full name')
    return null
  }
  if (answer.statusCode >= 500 && required) throw problems.upstreamError(client.label, answer.statusCode)
  const identity = answer.statusCode === 200 ? readIdentity(answer.body) : null
  if (identity === null && !required) request.log.warn({ status: answer.statusCode }, 'who-am-I did not name the user after log-in: the session has no full name')
  return identity
}

/** The guide's flat user, or v2's `{success, data: {...}}` envelope. */
function readIdentity (body: unknown): Identity | null {
  if (typeof body !== 'object' || body === null) return null
  const outer = body as Record<string, unknown>
  const user = typeof outer.data === 'object' && outer.data !== null && !('email' in outer) ? outer.data as Record<string, unknown> : outer
  const email = shortText(user.email, 320)
  if (email === undefined || !email.includes('@')) return null
  const named = shortText(user.full_name, 255)
  const parts = [shortText(user.first_name, 255), shortText(user.last_name, 255)].filter((part) => part !== undefined)
  return { email, fullName: named ?? (parts.length > 0 ? parts.join(' ') : undefined) }
}

function shortText (value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined
  const text = value.trim()
  return text === '' || text.length > max ? undefined : text
}
