import type { FastifyInstance } from 'fastify'
import { HttpProblem, problems } from '../../errors.js'
import { withoutSecretsOrCredentials } from '../../upstream/sanitize.js'
import { loginBody, loginRequestBody, sessionSchema } from './schemas.js'
import type { LoginBody } from './schemas.js'
import { problemAnswer, problemResponses } from '../responses.js'
import { assertCookieTransport } from './transport.js'
import { startUserSession } from './user-session.js'

export interface LoginRouteOptions {
  cookieSecure: boolean
  defaultTokenLifetimeMs: number
}

/**
 * Logs in upstream, keeps both tokens in a brand-new server-side session (a fresh id, so a
 * planted cookie is worthless), and answers who is logged in (with the full name who-am-I
 * gives). Never a token.
 */
export default async function loginRoute (app: FastifyInstance, options: LoginRouteOptions): Promise<void> {
  app.post<{ Body: LoginBody }>('/login', {
    schema: {
      tags: ['session'],
      summary: 'Log in (JSON {email, password} or form username/password)',
      body: loginBody,
      'x-request-body': loginRequestBody,
      response: {
        200: sessionSchema,
        ...problemResponses(400, 401, 403, 413, 415, 429, 502, 503, 504),
        '4xx': problemAnswer('Problem: upstream_rejected (another refusal of the authentication server, with its status; `upstream` holds its answer, minus any secret)')
      }
    },
    preHandler: app.authRateLimit((request) => loginEmail(request.body as LoginBody | undefined))
  }, async (request, reply) => {
    assertCookieTransport(request, options.cookieSecure)
    const email = loginEmail(request.body)
    if (email === undefined) {
      throw new HttpProblem(400, 'validation_failed', 'The request does not match the expected shape.', {
        extensions: { errors: [{ path: '/email', message: 'must have required property \'email\' (or a form field \'username\')' }] }
      })
    }

    const answer = await app.authApi.login(email, request.body.password, request.id)
    if (answer.statusCode !== 200) throw loginRefusal(answer.statusCode, answer.body, [request.body.password, ...app.upstreams.auth.secrets])
    return await startUserSession(app, request, reply, answer.body, { method: 'password', email, defaultTokenLifetimeMs: options.defaultTokenLifetimeMs })
  })
}

function loginEmail (body: LoginBody | undefined): string | undefined {
  const email = (body?.email ?? body?.username)?.trim()
  return email === '' ? undefined : email
}

/** FastAPI answers a wrong password or an inactive user with 400 and a `detail` sentence. */
function loginRefusal (status: number, body: unknown, credentials: readonly string[]): HttpProblem {
  const detail = typeof body === 'object' && body !== null ? (body as { detail?: unknown }).detail : undefined
  if (status >= 500) return problems.upstreamError('authentication', status)
  if (typeof detail === 'string' && /inactive/i.test(detail)) {
    return new HttpProblem(403, 'account_inactive', 'This account is not active.')
  }
  if (status === 400 || status === 401 || status === 403 || status === 404) return problems.invalidCredentials()
  if (status === 429) return new HttpProblem(429, 'rate_limited', 'The authentication server is rate limiting log-ins. Retry later.', { headers: { 'retry-after': '60' } })
  return new HttpProblem(status, 'upstream_rejected', 'The authentication server refused the log-in.', { extensions: { upstream: withoutSecretsOrCredentials(body, credentials) } })
}
