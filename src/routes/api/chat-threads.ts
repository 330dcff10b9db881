import type { FastifyInstance } from 'fastify'
import { sendUpstreamJson } from '../upstream-json.js'
import { noContent, problemResponses, problemOrUpstreamResponses, upstreamRefusals, upstreamSuccess } from '../responses.js'
import { callEjento, supported } from './ejento-call.js'
import { agentParams, threadParams, threadRenameBody } from './schemas.js'

const errors = { ...problemOrUpstreamResponses(400, 401, 403, 404, 422), ...upstreamRefusals, ...problemResponses(501, 502, 503, 504) }

/**
 * The user's conversations (chat threads) on the Ejento API server, with the session's Ejento
 * token: list, history, rename, delete. Answers pass through with the upstream's status (another
 * user's thread is the upstream's 404). A profile whose upstream lacks a call answers 501.
 */
export default async function chatThreadRoutes (app: FastifyInstance): Promise<void> {
  const paths = app.upstreamPaths.api
  const ejento = app.upstreams.ejento

  app.get<{ Params: { agentId: string } }>('/agents/:agentId/chat-threads', {
    schema: {
      tags: ['conversations'],
      security: [{ session: [] }],
      summary: 'The logged-in user\'s conversations with an agent, newest first',
      params: agentParams,
      response: { ...upstreamSuccess(200, 'ChatThreadList', 'The conversations, as the upstream answered'), ...errors }
    }
  }, async (request, reply) => {
    const path = supported(app, paths.chatThreads, 'listing conversations')
    const response = await callEjento(app, request, reply, 'GET', path(encodeURIComponent(request.params.agentId)))
    return await sendUpstreamJson(reply, ejento, response)
  })

  app.get<{ Params: { threadId: string } }>('/chat-threads/:threadId/responses', {
    schema: {
      tags: ['conversations'],
      security: [{ session: [] }],
      summary: 'One conversation\'s questions and answers, oldest first',
      params: threadParams,
      response: { ...upstreamSuccess(200, 'ThreadHistory', 'The questions and answers, as the upstream answered'), ...errors }
    }
  }, async (request, reply) => {
    const path = supported(app, paths.threadResponses, 'a conversation\'s history')
    const response = await callEjento(app, request, reply, 'GET', path(encodeURIComponent(request.params.threadId)))
    return await sendUpstreamJson(reply, ejento, response)
  })

  app.patch<{ Params: { threadId: string }, Body: { title: string } }>('/chat-threads/:threadId', {
    schema: {
      tags: ['conversations'],
      security: [{ session: [] }],
      summary: 'Rename a conversation',
      params: threadParams,
      body: threadRenameBody,
      response: { ...upstreamSuccess(200, 'ChatThreadAnswer', 'The renamed conversation, as the upstream answered'), ...errors }
    }
  }, async (request, reply) => {
    const path = supported(app, paths.thread, 'renaming a conversation')
    const method = supported(app, paths.threadRenameMethod, 'renaming a conversation')
    const response = await callEjento(app, request, reply, method, path(encodeURIComponent(request.params.threadId)), { title: request.body.title })
    return await sendUpstreamJson(reply, ejento, response)
  })

  app.delete<{ Params: { threadId: string } }>('/chat-threads/:threadId', {
    schema: {
      tags: ['conversations'],
      security: [{ session: [] }],
      summary: 'Delete a conversation',
      params: threadParams,
      response: { ...upstreamSuccess(200, 'Deleted', 'Deleted, as the upstream answered'), 204: noContent('Deleted (when the upstream answers without a body)'), ...errors }
    }
  }, async (request, reply) => {
    const path = supported(app, paths.thread, 'deleting a conversation')
    const response = await callEjento(app, request, reply, 'DELETE', path(encodeURIComponent(request.params.threadId)))
    return await sendUpstreamJson(reply, ejento, response)
  })
}
