import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { problems } from '../../errors.js'
import { sendUpstreamJson } from '../upstream-json.js'
import { callEjento } from './ejento-call.js'

/** The new thread's id, or the answer already sent for a creation the upstream refused or failed. */
export type StartedThread = { id: number | string, failed?: undefined } | { failed: FastifyReply }

/**
 * Creates a chat thread upstream for a question asked without one (on an upstream that does not
 * start threads itself). A refusal or failure is the browser's answer, as the thread route gives it.
 */
export async function startThread (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, path: string): Promise<StartedThread> {
  const ejento = app.upstreams.ejento
  const response = await callEjento(app, request, reply, 'POST', path, {})
  if (response.statusCode < 200 || response.statusCode >= 300) return { failed: await sendUpstreamJson(reply, ejento, response) }
  const id = threadIdOf(await ejento.readJson(response))
  if (id === undefined) throw problems.upstreamInvalidResponse(ejento.label, 'a new chat thread came without an id')
  return { id }
}

/** `{data: {id}}`, as the guide's upstream answers a new thread. */
function threadIdOf (answer: unknown): number | string | undefined {
  const id = (answer as { data?: { id?: unknown } } | null)?.data?.id
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id
  if (typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id)) return id
  return undefined
}
