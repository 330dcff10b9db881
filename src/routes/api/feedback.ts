import type { FastifyInstance } from 'fastify'
import { sendUpstreamJson } from '../upstream-json.js'
import { problemResponses, problemOrUpstreamResponses, upstreamRefusals, upstreamSuccess } from '../responses.js'
import { callEjento, supported } from './ejento-call.js'
import { feedbackBody, responseParams } from './schemas.js'

const errors = { ...problemOrUpstreamResponses(400, 401, 403, 404, 422), ...upstreamRefusals, ...problemResponses(501, 502, 503, 504) }

/** A vote on one agent response, on the Ejento API server with the session's Ejento token. */
export default async function feedbackRoutes (app: FastifyInstance): Promise<void> {
  const paths = app.upstreamPaths.api

  app.post<{ Params: { responseId: string }, Body: { vote_type: string } }>('/responses/:responseId/feedback', {
    schema: {
      tags: ['conversations'],
      security: [{ session: [] }],
      summary: 'Vote on an agent response (the upstream decides which votes exist: v2 has upvote and downvote)',
      params: responseParams,
      body: feedbackBody,
      response: { ...upstreamSuccess(201, 'FeedbackAnswer', 'The vote recorded, as the upstream answered'), ...errors }
    }
  }, async (request, reply) => {
    const path = supported(app, paths.feedback, 'feedback on an answer')
    const response = await callEjento(app, request, reply, 'POST', path(encodeURIComponent(request.params.responseId)), { vote_type: request.body.vote_type })
    return await sendUpstreamJson(reply, app.upstreams.ejento, response)
  })
}
