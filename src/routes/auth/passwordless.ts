import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HttpProblem, problems } from '../../errors.js'
import { problemResponses } from '../responses.js'
import type { PendingLoginCookie } from './pending-login-cookie.js'
import { MAX_WRONG_CODES } from './pending-logins.js'
import type { PendingLogin, PendingLogins } from './pending-logins.js'
import { passwordlessStartBody, passwordlessStartSchema, passwordlessVerifyBody, problemWith, sessionSchema } from './schemas.js'
import type { PasswordlessStartBody, PasswordlessVerifyBody } from './schemas.js'
import { assertCookieTransport } from './transport.js'
import { startUserSession } from './user-session.js'

export interface PasswordlessRouteOptions {
  cookieSecure: boolean
  defaultTokenLifetimeMs: number
  /** PUBLIC_URL: with it, the e-mail also carries a magic link to /auth/sso/callback. */
  publicUrl: string | undefined
  pending: PendingLogins
  cookie: PendingLoginCookie
}

/** Where an upstream answer says a code is wrong, expired, or its otp session dead. */
const CODE_REFUSED = new Set([400, 401, 403, 404, 410, 422])

/**
 * Password-less log-in: Ejento e-mails a one-time code (and, with PUBLIC_URL, a magic link);
 * the code, sent back here, logs in as `/auth/login` does. Ejento's otp_session_id never
 * leaves the server: it waits in a pending log-in, bound to the browser by the pre-log-in
 * cookie (and findable by the address, for a browser that lost it). Both steps are rate limited
 * per client address and per account, as log-in is; the start answers alike for every address.
 */
export default async function passwordlessRoutes (app: FastifyInstance, options: PasswordlessRouteOptions): Promise<void> {
  const { pending, cookie } = options
  const paths = app.upstreamPaths.auth
  const supported = async (): Promise<void> => {
    if (paths.passwordlessStart === undefined || paths.passwordlessVerify === undefined) throw problems.notSupported(app.upstreamPaths.name, 'password-less log-in')
  }

  app.post<{ Body: PasswordlessStartBody }>('/passwordless/start', {
    schema: {
      tags: ['session'],
      summary: 'Have Ejento e-mail a one-time log-in code (202 whatever the address)',
      body: passwordlessStartBody,
      response: { 202: passwordlessStartSchema, ...problemResponses(400, 403, 413, 415, 429, 502, 503, 504), ...problemWith(501, 'not_supported (EJENTO_PATH_PROFILE=guide)') }
    },
    onRequest: supported,
    preHandler: app.authRateLimit((request) => (request.body as PasswordlessStartBody | undefined)?.email)
  }, async (request, reply) => {
    assertCookieTransport(request, options.cookieSecure)
    const email = request.body.email.trim()
    // A browser starts one log-in at a time: the one it started before is over.
    const previous = cookie.read(request)
    if (previous !== undefined) await pending.take(previous)

    const state = randomBytes(24).toString('base64url')
    const next = options.publicUrl === undefined ? undefined : `${options.publicUrl}/auth/sso/callback?state=${state}`
    const answer = await app.upstreams.auth.requestJson({
      method: 'POST',
      path: paths.passwordlessStart as string,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(next === undefined ? { email } : { email, next }),
      requestId: request.id
    })
    if (answer.statusCode >= 500) throw problems.upstreamError('authentication', answer.statusCode)
    if (answer.statusCode === 429) throw upstreamRateLimited()
    let otpSessionId: string | undefined
    if (answer.statusCode >= 200 && answer.statusCode < 300) {
      otpSessionId = otpSessionIdOf(answer.body)
      if (otpSessionId === undefined) throw problems.upstreamInvalidResponse('authentication', 'the password-less start answered without an otp_session_id')
    } else {
      // Whatever Ejento says about the address, the browser hears the same 202: a pending log-in
      // without an otp session follows, and every code for it is wrong. A 401/403 is the
      // gateway key, worth an operator's look.
      request.log[answer.statusCode === 401 || answer.statusCode === 403 ? 'warn' : 'info']({ status: answer.statusCode }, 'the authentication server refused a password-less start')
    }

    const id = randomBytes(24).toString('base64url')
    await pending.start(id, { kind: 'passwordless', state, returnTo: '/', email, ...(otpSessionId === undefined ? {} : { otpSessionId }) })
    cookie.set(reply, id)
    request.log.info({ magicLink: next !== undefined }, 'password-less log-in started')
    return await reply.code(202).send({ sent: true })
  })

  const found = new WeakMap<FastifyRequest, { id: string, login: PendingLogin }>()

  /** The log-in this browser started (its cookie), else the latest one for the address given. */
  const findPending = async (request: FastifyRequest): Promise<void> => {
    const id = cookie.read(request)
    const byCookie = id === undefined ? null : await pending.get(id)
    if (id !== undefined && byCookie?.kind === 'passwordless') {
      found.set(request, { id, login: byCookie })
      return
    }
    const email = (request.body as PasswordlessVerifyBody).email
    const byEmail = email === undefined ? null : await pending.findByEmail(email)
    if (byEmail !== null && byEmail.login.kind === 'passwordless') found.set(request, byEmail)
  }

  app.post<{ Body: PasswordlessVerifyBody }>('/passwordless/verify', {
    schema: {
      tags: ['session'],
      summary: 'Log in with the e-mailed code (answers as /auth/login)',
      body: passwordlessVerifyBody,
      response: {
        200: sessionSchema,
        ...problemResponses(403, 413, 415, 429, 502, 503, 504),
        ...problemWith(400, 'passwordless_not_started (no code pending for this browser or address), validation_failed, insecure_transport'),
        ...problemWith(401, 'invalid_code'),
        ...problemWith(501, 'not_supported (EJENTO_PATH_PROFILE=guide)')
      }
    },
    onRequest: supported,
    preHandler: [findPending, app.authRateLimit((request) => found.get(request)?.login.email ?? (request.body as PasswordlessVerifyBody | undefined)?.email)]
  }, async (request, reply) => {
    assertCookieTransport(request, options.cookieSecure)
    const target = found.get(request)
    // Taken, not read: of two verifications at once, one goes upstream; the other finds nothing.
    const login = target === undefined ? null : await pending.take(target.id)
    if (target === undefined || login === null) {
      throw new HttpProblem(400, 'passwordless_not_started', 'No log-in code is pending for this browser or address: ask for a code first (it lasts 10 minutes).')
    }
    if (login.otpSessionId === undefined) {
      await restoreAfterWrongCode(target.id, login)
      throw invalidCode()
    }

    let answer: { statusCode: number, body: unknown }
    try {
      answer = await app.upstreams.auth.requestJson({
        method: 'POST',
        path: paths.passwordlessVerify as string,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ otp_session_id: login.otpSessionId, code: request.body.code }),
        requestId: request.id
      })
    } catch (error) {
      await pending.restore(target.id, login)
      throw error
    }
    if (answer.statusCode !== 200) {
      if (CODE_REFUSED.has(answer.statusCode)) {
        await restoreAfterWrongCode(target.id, login)
        throw invalidCode()
      }
      // Not the code's fault: the same try may be made again.
      await pending.restore(target.id, login)
      if (answer.statusCode >= 500) throw problems.upstreamError('authentication', answer.statusCode)
      if (answer.statusCode === 429) throw upstreamRateLimited()
      throw problems.upstreamError('authentication', answer.statusCode)
    }

    await pending.forgetEmail(target.id, login)
    const session = await startUserSession(app, request, reply, answer.body, { method: 'passwordless', email: login.email as string, defaultTokenLifetimeMs: options.defaultTokenLifetimeMs })
    cookie.clear(reply)
    return session
  })

  /**
   * A wrong code: another try may follow, up to MAX_WRONG_CODES for one code sent, however many
   * addresses or minutes the rate limits would allow (Ejento ends its otp session after 5 as well).
   */
  async function restoreAfterWrongCode (id: string, login: PendingLogin): Promise<void> {
    const wrongCodes = (login.wrongCodes ?? 0) + 1
    if (wrongCodes >= MAX_WRONG_CODES) {
      await pending.forgetEmail(id, login)
      return
    }
    await pending.restore(id, { ...login, wrongCodes })
  }
}

function invalidCode (): HttpProblem {
  return new HttpProblem(401, 'invalid_code', 'The code is wrong or has expired.')
}

function upstreamRateLimited (): HttpProblem {
  return new HttpProblem(429, 'rate_limited', 'The authentication server is rate limiting log-ins. Retry later.', { headers: { 'retry-after': '60' } })
}

/** `{success, data: {otp_session_id}}`, or a flat `{otp_session_id}`. */
function otpSessionIdOf (body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const outer = body as Record<string, unknown>
  const data = typeof outer.data === 'object' && outer.data !== null ? outer.data as Record<string, unknown> : outer
  const id = data.otp_session_id
  return typeof id === 'string' && /^[\x21-\x7e]{1,512}$/.test(id) ? id : undefined
}
