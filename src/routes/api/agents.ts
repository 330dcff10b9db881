import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { sendUpstreamJson, sendUpstreamStream } from '../../proxy/send.js'
import { problemResponses, problemOrUpstreamResponses, upstreamAnswer } from '../responses.js'
import { agentParams, chatThreadBody, responseBody } from './schemas.js'

interface AgentRoute {
  Params: { agentId: string }
  Body: Record<string, unknown> | null | undefined
}

const errors = { ...problemOrUpstreamResponses(400, 401, 403, 404, 422), ...problemResponses(502, 503, 504) }

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
      response: { 201: upstreamAnswer, ...errors }
    }
  }, async (request, reply) => {
    return await forwardJson(app, request, reply, paths.chatThread(encodeURIComponent(request.params.agentId)), false)
  })

  app.post<AgentRoute>('/agents/:agentId/responses', {
    schema: {
      tags: ['agents'],
      security: [{ session: [] }],
      summary: 'Ask an agent: JSON, or a server-sent-event stream with Accept: text/event-stream',
      params: agentParams,
      body: responseBody,
      response: { 200: upstreamAnswer, ...errors }
    }
  }, async (request, reply) => {
    const agentId = encodeURIComponent(request.params.agentId)
    const wantsStream = request.headers.accept?.includes('text/event-stream') === true
    return await forwardJson(app, request, reply, wantsStream ? paths.responseStream(agentId) : paths.response(agentId), wantsStream)
  })
}

async function forwardJson (app: FastifyInstance, request: FastifyRequest<AgentRoute>, reply: FastifyReply, path: string, stream: boolean): Promise<FastifyReply> {
  const response = await app.forwarder.call(request, reply, {
    upstream: 'ejento',
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' },
    body: { kind: 'kept', data: Buffer.from(JSON.stringify(request.body ?? {})) }
  })
  const isEventStream = response.headers['content-type']?.toString().startsWith('text/event-stream') === true
  if (stream && isEventStream && response.statusCode < 300) return sendUpstreamStream(reply, app.upstreams.ejento.label, response)
  return await sendUpstreamJson(reply, app.upstreams.ejento, response)
}
