import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem, problemBody } from '../errors.js'
import type { ProblemBody } from '../errors.js'
import { StoreUnavailableError } from '../session/store.js'
import { storeUnavailableLog } from '../session/unavailable-log.js'

const PROBLEM_TYPE = 'application/problem+json; charset=utf-8'

/** Fastify's own errors, by code, mapped to stable problem codes. */
const FRAMEWORK_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'body_too_large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_body'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_body'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_INVALID_TYPE: [400, 'invalid_body'],
  FST_ERR_BAD_URL: [400, 'bad_url'],
  FST_ERR_MAX_PARAM_LENGTH: [400, 'validation_failed'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'bad_request']
}

/** Every error the BFF answers itself is RFC 9457 problem JSON with a stable `code`; no 5xx leaks internals. */
export default fp(async function errorHandler (app: FastifyInstance) {
  const logStoreUnavailable = storeUnavailableLog()
  app.setErrorHandler(async (error: FastifyError | HttpProblem | StoreUnavailableError, request, reply) => {
    const problem = toProblem(error)
    if (problem.code === 'store_unavailable') {
      logStoreUnavailable(request.log, error)
    } else if (problem.status >= 500) {
      request.log.error({ err: error, code: problem.code }, 'request failed')
    } else {
      request.log.info({ code: problem.code, status: problem.status }, problem.detail ?? problem.code)
    }
    // A session that ended during this request (a refused refresh, a log-out elsewhere) does not
    // clear the cookie here: by now the browser may hold a newer session's cookie under the same
    // name. The next request that presents the dead cookie has it cleared (the session plugin).
    if (error instanceof HttpProblem) reply.headers(error.headers)
    if (problem.code === 'store_unavailable') {
      reply.header('retry-after', '1')
      request.server.metrics?.storeError()
    }
    return sendProblem(reply, problem)
  })

  app.setNotFoundHandler(async (request, reply) => {
    return sendProblem(reply, problemBody(404, 'not_found', `No route ${request.method} ${request.url.split('?')[0]}.`))
  })
}, { name: 'error-handler' })

export function sendProblem (reply: FastifyReply, problem: ProblemBody): FastifyReply {
  return reply.code(problem.status).type(PROBLEM_TYPE).send(problem)
}

/** The problem an error is answered with. */
export function toProblem (error: FastifyError | HttpProblem | StoreUnavailableError): ProblemBody {
  if (error instanceof HttpProblem) return error.toJSON()
  if (error instanceof StoreUnavailableError) {
    return problemBody(503, 'store_unavailable', 'The session store is unavailable. Try again shortly.')
  }
  if ('validation' in error && error.validation !== undefined) {
    return problemBody(400, 'validation_failed', 'The request does not match the expected shape.', {
      errors: error.validation.map((issue) => ({
        path: issue.instancePath === '' ? ('missingProperty' in issue.params ? `/${String(issue.params.missingProperty)}` : '/') : issue.instancePath,
        message: issue.message ?? 'is invalid'
      }))
    })
  }
  const mapped = FRAMEWORK_CODES[error.code]
  // Fastify's bad-URL message quotes the whole target, query and all: not echoed.
  if (error.code === 'FST_ERR_BAD_URL') return problemBody(400, 'bad_url', 'The request target is not a valid URL (a malformed percent-encoding).')
  if (mapped !== undefined) return problemBody(mapped[0], mapped[1], error.message)
  const status = error.statusCode ?? 500
  if (status === 429) return problemBody(429, 'rate_limited', 'Too many requests. Retry later.')
  if (status >= 400 && status < 500) return problemBody(status, 'bad_request', error.message)
  return problemBody(500, 'internal_error', 'The BFF failed to handle this request.')
}
