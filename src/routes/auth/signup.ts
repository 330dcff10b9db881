import type { FastifyInstance } from 'fastify'
import { problems } from '../../errors.js'
import { gatewayRefusal } from '../../upstream/gateway-refusal.js'
import { signupBody } from './schemas.js'
import type { SignupBody } from './schemas.js'
import { problemResponses, problemOrUpstreamResponses, upstreamRefusals, upstreamSuccess } from '../responses.js'
import { readUpstreamJson, sendUpstreamAnswer } from '../upstream-json.js'

/**
 * Creates an account upstream; does not log in. The new user, and a refusal that is the
 * upstream's error object, pass through as the upstream wrote them, minus any secret; a refusal
 * in any other shape (FastAPI's bare `"email already used"`) is a problem `upstream_rejected`.
 */
export default async function signupRoute (app: FastifyInstance): Promise<void> {
  const auth = app.upstreams.auth
  app.post<{ Body: SignupBody }>('/signup', {
    schema: {
      tags: ['session'],
      summary: 'Create an account (does not log in)',
      body: signupBody,
      response: { ...upstreamSuccess(200, 'User', 'The new user, as the upstream answered (never a password)'), ...problemOrUpstreamResponses(400, 409, 422), ...upstreamRefusals, ...problemResponses(403, 413, 415, 429, 502, 503, 504) }
    },
    preHandler: app.authRateLimit((request) => (request.body as SignupBody | undefined)?.email)
  }, async (request, reply) => {
    const { email, password, full_name: fullName } = request.body
    const response = await auth.request({
      method: 'POST',
      path: app.upstreamPaths.auth.signup,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ email, password, ...(fullName === undefined ? {} : { full_name: fullName }) }),
      requestId: request.id
    })
    const answer = await readUpstreamJson(auth, response)
    const refusedByGateway = gatewayRefusal(auth.label, response.statusCode, answer.value, response.headers)
    if (refusedByGateway !== undefined) throw refusedByGateway
    if (response.statusCode < 300 && (typeof answer.value !== 'object' || answer.value === null)) {
      throw problems.upstreamInvalidResponse(auth.label, 'sign-up answered without a user')
    }
    // No password field, and nothing the call carried (the password, the gateway key), even echoed elsewhere.
    return await sendUpstreamAnswer(reply, auth, response, answer, { secrets: [password, ...auth.secrets] })
  })
}
