import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { requireSession } from '../../plugins/session.js'
import { PASSTHROUGH_PREFIX, forwardedRequestHeaders } from '../../proxy/headers.js'
import { passthroughTarget } from '../../proxy/path.js'
import { captureBody } from '../../proxy/request-body.js'
import type { BodyLimits } from '../../proxy/request-body.js'
import { sendPassthrough } from '../../proxy/send.js'
import type { UpstreamName } from '../../upstream/client.js'
import { passthroughParams, passthroughResponses, problemResponses } from '../responses.js'

const METHODS: Dispatcher.HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']

/**
 * `/proxy/ejento/*` and `/proxy/auth/*`: any method, path, query and body (JSON, form,
 * multipart, binary) forwarded as they are, with the right token. Bodies are not parsed
 * here; they are kept (small, so a refused token can be retried) or streamed (large).
 * Log-in, token and sign-up paths are refused on both, and JSON answers lose any token
 * field on the way back (defence in depth, should an upstream path answer with one).
 */
export default async function proxyRoutes (app: FastifyInstance, options: BodyLimits): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
  app.addHook('onRequest', requireSession)

  for (const upstream of ['ejento', 'auth'] as const) {
    const prefix = PASSTHROUGH_PREFIX[upstream]
    app.route({
      method: METHODS,
      url: `${prefix}/*`,
      schema: {
        tags: ['passthrough'],
        security: [{ session: [] }],
        params: passthroughParams(upstream === 'ejento' ? 'api/agents (guide) or api/v2/agents (v2)' : 'api/users/me'),
        response: { ...passthroughResponses, ...problemResponses(502, 503, 504) },
        summary: `Any call on the ${upstream === 'ejento' ? 'Ejento API' : 'authentication'} server, same path and query (log-in, token and sign-up paths refused)`
      },
      handler: async (request, reply) => await passthrough(app, request, reply, prefix, upstream, options)
    })
  }
}

async function passthrough (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, prefix: string, upstream: UpstreamName, limits: BodyLimits): Promise<FastifyReply> {
  // Checked and forwarded as one string: the upstream receives exactly what was checked.
  const target = passthroughTarget(request.raw.url ?? '/', prefix, request.method)

  const body = await captureBody(request.raw, limits)
  const headers = forwardedRequestHeaders(request.headers, { withBodyHeaders: body.kind !== 'none' })
  // A kept body gets its length from undici; a streamed one keeps the browser's.
  if (body.kind === 'kept') delete headers['content-length']
  const response = await app.forwarder.call(request, reply, { upstream, method: request.method as Dispatcher.HttpMethod, path: target, headers, body })
  // An Ejento event stream speaks the profile's format, the BFF's error included.
  return await sendPassthrough(reply, app.upstreams[upstream], response, upstream === 'ejento' ? app.upstreamPaths.api.streamFormat : 'events')
}
