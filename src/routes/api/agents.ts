import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ActiveSession } from '../../plugins/session.js'
import { sendUpstreamStream } from '../../proxy/send.js'
import { sendUpstreamJson } from '../upstream-json.js'
import { agentAnswerOrStream, problemResponses, problemOrUpstreamResponses, upstreamJson, upstreamRefusals, upstreamSuccess } from '../responses.js'
import { callEjento } from './ejento-call.js'
import { startThread } from './new-thread.js'
import { agentParams, chatThreadBody, chatThreadRequestBody, responseBody } from './schemas.js'

interface AgentRoute {
  Params: { agentId: string }
  Body: Record<string, unknown> | null | undefined
}

interface AskRoute {
  Params: { agentId: string }
  Body: Record<string, unknown> & { chat_thread_id?: number | string | null }
}

const errors = { ...problemOrUpstreamResponses(400, 401, 403, 404, 422), ...upstreamRefusals, ...problemResponses(502, 503, 504) }

/** Chat threads and agent responses on the Ejento API server, with the session's Ejento token. */
export default async function agentRoutes (app: FastifyInstance): Promise<void> {
  const paths = app.upstreamPaths.api

  app.post<AgentRoute>('/agents/:agentId/chat-threads', {
    schema: {
      tags: ['agents'],
      security: [{ session: [] }],
      summary: 'Create a chat thread with an agent',
      params: agentParams,
      body: chatThreadBody,
      'x-request-body': chatThreadRequestBody,
      response: { ...upstreamSuccess(201, 'ChatThreadAnswer', 'The new conversation, as the upstream answered'), ...errors }
    }
  }, async (request, reply) => {
    const { agentId } = request.params
    // v2 wants to be told the agent and the creator; the browser's own fields win.
    const body = paths.threadNamesCreator
      ? { agent: agentNumber(agentId), created_by: (request.session as ActiveSession).record.user.email, ...request.body }
      : request.body ?? {}
    const response = await callEjento(app, request, reply, 'POST', paths.chatThread(encodeURIComponent(agentId)), body)
    return await sendUpstreamJson(reply, app.upstreams.ejento, response)
  })

  app.post<AskRoute>('/agents/:agentId/responses', {
    schema: {
      tags: ['agents'],
      security: [{ session: [] }],
      summary: 'Ask an agent: JSON, or a server-sent-event stream with Accept: text/event-stream; chat_thread_id null (or absent) starts a new conversation',
      params: agentParams,
      body: responseBody,
      response: { 200: agentAnswerOrStream, '2xx': upstreamJson('AgentAnswer', 'The answer, at another success status the upstream chose (passed on)'), ...errors }
    }
  }, async (request, reply) => {
    const agentId = encodeURIComponent(request.params.agentId)
    let body = request.body
    if (body.chat_thread_id === undefined || body.chat_thread_id === null) {
      if (paths.responseCreatesThread) {
        // Absent means null; the upstream starts the thread (and names it after the question).
        body = { ...body, chat_thread_id: null }
      } else {
        // The guide's upstream needs a thread: one is made first, with the same session and token rules.
        const thread = await startThread(app, request, reply, paths.chatThread(agentId))
        if (thread.failed !== undefined) return thread.failed
        body = { ...body, chat_thread_id: thread.id }
      }
    }
    const wantsStream = request.headers.accept?.includes('text/event-stream') === true
    return await ask(app, request, reply, wantsStream ? paths.responseStream(agentId) : paths.response(agentId), body, wantsStream)
  })
}

/** v2's agent ids are integers; any other id the pattern lets through is sent as it is, for the upstream to refuse. */
function agentNumber (agentId: string): number | string {
  const number = Number(agentId)
  return /^\d+$/.test(agentId) && Number.isSafeInteger(number) ? number : agentId
}

async function ask (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, path: string, body: unknown, stream: boolean): Promise<FastifyReply> {
  const response = await callEjento(app, request, reply, 'POST', path, body, stream)
  const isEventStream = response.headers['content-type']?.toString().trim().toLowerCase().startsWith('text/event-stream') === true
  if (stream && isEventStream && response.statusCode < 300) return sendUpstreamStream(reply, app.upstreams.ejento.label, response, app.upstreamPaths.api.streamFormat)
  return await sendUpstreamJson(reply, app.upstreams.ejento, response)
}
