import type { FastifyReply } from 'fastify'
import { problems } from '../errors.js'
import type { HttpProblem } from '../errors.js'
import type { UpstreamClient, UpstreamResponse } from '../upstream/client.js'
import { discard } from '../upstream/read-body.js'
import { returnedResponseHeaders, withholdEchoedCredentials } from './headers.js'

/**
 * What every relayed answer starts with, streamed (send.ts) or read whole (routes/upstream-json.ts):
 * the headers the browser may see, or the 502 an upstream 5xx becomes.
 */

/** The upstream's headers the browser may see: the allowed ones, minus any holding a credential the call carried (logged, never the value). */
export function headersForBrowser (reply: FastifyReply, label: string, response: UpstreamResponse, secrets: readonly string[] | undefined = response.secrets): Record<string, string> {
  const headers = returnedResponseHeaders(response.headers)
  const withheld = withholdEchoedCredentials(headers, secrets)
  if (withheld.length > 0) reply.log.warn({ upstream: label, withheld }, 'answer headers holding a credential the call carried were withheld')
  return headers
}

/**
 * An upstream 5xx as 502 `upstream_error`: a crash page or a stack trace is not for the
 * browser. Its body is dropped at once (a slow one would hold the connection), its
 * `Retry-After` kept.
 */
export function upstreamError (client: UpstreamClient, response: UpstreamResponse): HttpProblem {
  discard(response.body)
  const problem = problems.upstreamError(client.label, response.statusCode)
  const retryAfter = response.headers['retry-after']
  if (typeof retryAfter === 'string') problem.headers['retry-after'] = retryAfter
  return problem
}
