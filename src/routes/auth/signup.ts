import type { FastifyInstance } from 'fastify'
import { problems } from '../../errors.js'
import { withoutSecretsOrCredentials } from '../../upstream/sanitize.js'
import { signupBody } from './schemas.js'
import type { SignupBody } from './schemas.js'
import { problemResponses, problemOrUpstreamResponses, serializedAsIs, upstreamRefusals, upstreamSuccess } from '../responses.js'

/** Creates an account upstream; does not log in. Upstream refusals pass through, minus any secret. */
export default async function signupRoute (app: FastifyInstance): Promise<void> {
  app.post<{ Body: SignupBody }>('/signup', {
    schema: {
      tags: ['session'],
      summary: 'Create an account (does not log in)',
      body: signupBody,
      response: { ...upstreamSuccess(200, 'User', 'The new user, as the upstream answered (never a password)'), ...problemOrUpstreamResponses(400, 409, 422), ...upstreamRefusals, ...problemResponses(403, 413, 415, 429, 502, 503, 504) }
    },
    // The upstream's answer is sent as an object: its schema describes it, never reshapes it.
    serializerCompiler: serializedAsIs,
    preHandler: app.authRateLimit((request) => (request.body as SignupBody | undefined)?.email)
  }, async (request, reply) => {
    const { email, password, full_name: fullName } = request.body
    const answer = await app.authApi.signup({ email, password, ...(fullName === undefined ? {} : { full_name: fullName }) }, request.id)
    if (answer.statusCode >= 500) throw problems.upstreamError('authentication', answer.statusCode)
    if (answer.statusCode < 300 && (typeof answer.body !== 'object' || answer.body === null)) {
      throw problems.upstreamInvalidResponse('authentication', 'sign-up answered without a user')
    }
    // No password field, and nothing the call carried (the password, the gateway key), even echoed elsewhere.
    return await reply.code(answer.statusCode).send(withoutSecretsOrCredentials(answer.body, [password, ...app.upstreams.auth.secrets]))
  })
}
