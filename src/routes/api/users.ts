import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import type { ActiveSession } from '../../plugins/session.js'
import { sendUpstreamJson } from '../upstream-json.js'
import type { AfterSuccess } from '../upstream-json.js'
import { problemResponses, problemOrUpstreamResponses, upstreamRefusals, upstreamSuccess } from '../responses.js'
import { ownPasswordBody, userParams, userUpdateBody, usersQuery } from './schemas.js'

const errors = { ...problemOrUpstreamResponses(400, 401, 403, 404, 422), ...upstreamRefusals, ...problemResponses(502, 503, 504) }

/** Users on the authentication server, with the session's auth-app token. */
export default async function userRoutes (app: FastifyInstance): Promise<void> {
  const paths = app.upstreamPaths.auth

  app.get<{ Querystring: { skip: number, limit: number } }>('/users', {
    schema: {
      tags: ['users'],
      security: [{ session: [] }],
      summary: 'List users ({data, count})',
      querystring: usersQuery,
      response: { ...upstreamSuccess(200, 'UserList', 'The users, as the upstream answered'), ...errors }
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
      response: { ...upstreamSuccess(200, 'PasswordChanged', 'Changed: the upstream\'s answer, with how many other sessions ended'), ...errors }
    }
  }, async (request, reply) => {
    // A password change ends the user's other sessions (a stolen cookie must not survive it) and
    // renews this one's id; the answer says how many ended. Renewed first: a second change sent
    // with the same cookie (a double click) then finds where this session moved, and keeps it.
    return await forwardJson(app, request, reply, 'PATCH', paths.ownPassword, async () => {
      const session = request.session as ActiveSession
      await reply.renewSession()
      const kept = request.session?.id ?? await app.sessions.successorOf(session.id) ?? undefined
      const ended = await app.sessions.destroyOwner(session.record, kept)
      app.metrics.sessionsEnded('password_change', ended)
      request.log.info({ userId: session.record.user.id, ended }, 'password changed: other sessions ended, this one renewed')
      return { ended_sessions: ended }
    })
  })

  app.patch<{ Params: { userId: string } }>('/users/:userId', {
    schema: {
      tags: ['users'],
      security: [{ session: [] }],
      summary: 'Update any user (global admins only; others get the upstream 403)',
      params: userParams,
      body: userUpdateBody,
      response: { ...upstreamSuccess(200, 'UserChanged', 'The changed user, as the upstream answered'), ...errors }
    }
  }, async (request, reply) => {
    const change = request.body as { password?: unknown, email?: unknown, is_active?: unknown }
    const endsSessions = change.password !== undefined || change.email !== undefined || change.is_active === false
    return await forwardJson(app, request, reply, 'PATCH', paths.user(encodeURIComponent(request.params.userId)), endsSessions
      ? async (answer) => await endTargetSessions(app, request, request.params.userId, answer)
      : undefined)
  })
}

/**
 * An admin changed a user's password or email, or deactivated them: every session of that user in
 * the BFF ends, on every instance (sessions are owned by the user's id, or by the email when the
 * tokens carried no id: both are ended). The admin's own session ends too when they changed themselves.
 * The id is also taken as the answer spells it, as the tokens' `sub` does: the path may name the
 * same user otherwise (FastAPI reads an upper-case uuid, or 042 for 42).
 */
async function endTargetSessions (app: FastifyInstance, request: FastifyRequest, userId: string, answer: unknown): Promise<Record<string, unknown>> {
  const { id, email } = (answer ?? {}) as { id?: unknown, email?: unknown }
  const ids = typeof id === 'string' || typeof id === 'number' ? [userId, String(id)] : [userId]
  const ended = await app.sessions.destroyUser({ ids, ...(typeof email === 'string' ? { email } : {}) })
  app.metrics.sessionsEnded('admin_change', ended)
  request.log.info({ userId: request.session?.record.user.id, targetUserId: userId, ended }, 'user changed by an admin: their sessions ended')
  return { ended_sessions: ended }
}

async function forwardJson (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, method: Dispatcher.HttpMethod, path: string, afterSuccess?: AfterSuccess): Promise<FastifyReply> {
  const hasBody = method !== 'GET'
  const response = await app.forwarder.call(request, reply, {
    upstream: 'auth',
    method,
    path,
    headers: hasBody ? { 'content-type': 'application/json', accept: 'application/json' } : { accept: 'application/json' },
    body: hasBody ? { kind: 'kept', data: Buffer.from(JSON.stringify(request.body ?? {})) } : { kind: 'none' }
  })
  return await sendUpstreamJson(reply, app.upstreams.auth, response, { afterSuccess })
}
