import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { problems } from '../../errors.js'
import type { UpstreamResponse } from '../../upstream/client.js'

/**
 * One call on the Ejento API server with the session's Ejento token, through the forwarder
 * (refresh before or after a refused token, one retry, the browser leaving aborts it).
 * A body is sent as JSON and kept, so that the retry can send it again.
 */
export async function callEjento (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, method: Dispatcher.HttpMethod, path: string, body?: unknown, stream = false): Promise<UpstreamResponse> {
  const accept = stream ? 'text/event-stream' : 'application/json'
  return await app.forwarder.call(request, reply, {
    upstream: 'ejento',
    method,
    path,
    headers: body === undefined ? { accept } : { 'content-type': 'application/json', accept },
    body: body === undefined ? { kind: 'none' } : { kind: 'kept', data: Buffer.from(JSON.stringify(body)) }
  })
}

/** The profile's path for a call, or 501 `not_supported` before anything is sent upstream. */
export function supported<Path> (app: FastifyInstance, path: Path | undefined, what: string): Path {
  if (path === undefined) throw problems.notSupported(app.upstreamPaths.name, what)
  return path
}
