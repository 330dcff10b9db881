import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { sendUpstreamJson } from '../../proxy/send.js'
import { problemResponses, problemOrUpstreamResponses, upstreamAnswer } from '../responses.js'
import { ownPasswordBody, userParams, userUpdateBody, usersQuery } from './schemas.js'

const errors = { ...problemOrUpstreamResponses(400, 401, 403, 404, 422), ...problemResponses(502, 503, 504) }

/** Users on the authentication server, with the session's auth-app token. */
export default async function userRoutes (app: FastifyInstance): Promise<void> {
  const paths = app.upstreamPaths.auth

  app.get<{ Querystring: { skip: number, limit: number } }>('/users', {
    schema: {
      tags: ['users'],
      security: [{ session: [] }],
      summary: 'List users ({data, count})',
      querystring: usersQuery,
      response: { 200: upstreamAnswer, ...errors }
    }
  }, async (request, reply) => {
    const query = new URLSearchParams({ skip: String(request.query.skip), limit: String(request.query.limit) })
    return await forwardJson(app, request, reply, 'GET', `${paths.users}?${query.toString()}`)
  })

  // Registered before /users/:userId so that "me" is never taken for an id.
  app.patch('/users/me/password', {
    schema: {
      tags: ['users'],
      security: [{ session: [] }],
      summary: 'Change the logged-in user\'s password',
      body: ownPasswordBody,
      response: { 200: upstreamAnswer, ...errors }
    }
  }, async (request, reply) => {
    return await forwardJson(app, request, reply, 'PATCH', paths.ownPassword)
  })

  app.patch<{ Params: { userId: string } }>('/users/:userId', {
    schema: {
      tags: ['users'],
      security: [{ session: [] }],
      summary: 'Update any user (global admins only; others get the upstream 403)',
      params: userParams,
      body: userUpdateBody,
      response: { 200: upstreamAnswer, ...errors }
    }
  }, async (request, reply) => {
    return await forwardJson(app, request, reply, 'PATCH', paths.user(encodeURIComponent(request.params.userId)))
  })
}

async function forwardJson (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, method: Dispatcher.HttpMethod, path: string): Promise<FastifyReply> {
  const hasBody = method !== 'GET'
  const response = await app.forwarder.call(request, reply, {
    upstream: 'auth',
    method,
    path,
    headers: hasBody ? { 'content-type': 'application/json', accept: 'application/json' } : { accept: 'application/json' },
    body: hasBody ? { kind: 'kept', data: Buffer.from(JSON.stringify(request.body ?? {})) } : { kind: 'none' }
  })
  return await sendUpstreamJson(reply, app.upstreams.auth, response)
}
