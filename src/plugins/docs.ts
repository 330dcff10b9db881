import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { SHARED_SCHEMAS } from '../routes/schemas.js'

/**
 * OpenAPI generated from the route schemas: a UI at /docs, the document at /docs/json.
 * The shared answer schemas are added here, before any route refers to them, and keep their
 * names in the document (`#/components/schemas/ChatThread`), so a generated client names them too.
 */
export default fp(async function docs (app: FastifyInstance, options: { cookieName: string }) {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Ejento BFF',
        description: [
          'Backend-for-frontend for Ejento. The browser holds only an HttpOnly session cookie; the BFF keeps the Ejento tokens and calls Ejento with them. Errors made by the BFF are RFC 9457 problem details (`application/problem+json`) with a stable `code`.',
          'Answers that come from Ejento are passed through as Ejento sent them (extra fields included); their schemas describe both path profiles (`EJENTO_PATH_PROFILE`): the API access guide\'s (`guide`) and hosted Ejento\'s (`v2`, `{success, message, data}` envelopes).',
          'Event streams: OpenAPI has no vocabulary for server-sent events. A `text/event-stream` answer\'s schema describes the JSON `data` of one event, and its `x-sse-events` extension maps each event name to its own schema (`message` is SSE\'s name for an event without `event:`, as v2 sends them).'
        ].join('\n\n'),
        version: '0.1.0'
      },
      tags: [
        { name: 'session', description: 'Sign-up, log-in, the session, log-out' },
        { name: 'agents', description: 'Conversations started and answers asked of Ejento\'s agents' },
        { name: 'conversations', description: 'The user\'s conversations: list, history, rename, delete, feedback (v2)' },
        { name: 'users', description: 'Users of the authentication server' },
        { name: 'passthrough', description: 'Any other call on an Ejento server, with the session\'s token' },
        { name: 'operations', description: 'Health, readiness, metrics' }
      ],
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: options.cookieName }
        }
      }
    },
    refResolver: {
      // A shared schema is named by its $id (Fastify's default numbers them: def-0, def-1, ...).
      buildLocalReference: (json, _baseUri, _fragment, index) => typeof json.$id === 'string' ? json.$id : `def-${index}`
    },
    transformObject: (document) => withRequestBodies(('openapiObject' in document ? document.openapiObject : {}) as OpenApiObject) as Record<string, unknown>
  })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // swagger-ui's own policy, minus upgrade-insecure-requests (which breaks /docs served over plain http).
    staticCSP: "default-src 'self'; base-uri 'self'; font-src 'self' https: data:; form-action 'self'; frame-ancestors 'self'; img-src 'self' data: validator.swagger.io; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self' https: 'unsafe-inline'",
    // The interceptor is written into swagger-initializer.js as its source text (a same-origin script, as the CSP wants).
    uiConfig: { docExpansion: 'list', deepLinking: false, requestInterceptor: passthroughPathAsTyped }
  })
}, { name: 'docs' })

declare module 'fastify' {
  interface FastifySchema {
    /** For the document only: an OpenAPI Request Body Object that replaces the one made from `body` (see withRequestBodies). */
    'x-request-body'?: Record<string, unknown>
  }
}

interface OpenApiObject {
  paths?: Record<string, Record<string, Record<string, unknown>>>
}

/**
 * Operations whose route schema carries `x-request-body` (an OpenAPI Request Body Object)
 * document that instead of the one generated from `body`, which @fastify/swagger always marks
 * required and gives one media type: an optional body, or a form beside JSON.
 */
function withRequestBodies (document: OpenApiObject): OpenApiObject {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      if (typeof operation !== 'object' || operation === null || !('x-request-body' in operation)) continue
      operation.requestBody = operation['x-request-body']
      delete operation['x-request-body']
    }
  }
  return document
}

/**
 * "Try it out" on the passthrough: swagger-ui percent-encodes a path parameter whole, so the
 * `*` of `/proxy/ejento/{*}` typed as `api/agents?skip=0` would leave as `api%2Fagents%3Fskip%3D0`,
 * which is one path segment holding a slash (refused 400 `unsafe_path`). This undoes that
 * encoding for the characters that delimit a path and query (and `%` itself), so the BFF
 * receives the path as typed; it checks it as any other request.
 * A request whose path then has a dot segment (`..`, `.`, `%2e`, on any route: swagger-ui leaves
 * an id typed as `..` as it is) is not sent: the browser would resolve it before the BFF sees it
 * (`/proxy/ejento/api/../../auth/x` becomes `/auth/x`, out of the passthrough). swagger-ui calls
 * `userFetch` in place of fetch when the request has one: here it answers, without the network,
 * the 400 `unsafe_path` problem the BFF answers a dot segment it receives, saying it was not sent.
 * It runs in the browser as the source text of this function: it must refer to nothing outside itself.
 */
export function passthroughPathAsTyped (request: Record<string, unknown>): Record<string, unknown> {
  const match = typeof request.url === 'string' ? /^((?:[a-z][a-z0-9+.-]*:\/\/[^/?#]*)?\/proxy\/(?:ejento|auth)\/)([^#]*)$/i.exec(request.url) : null
  // Only these escapes, each one character: decoding one cannot make another.
  if (match !== null) request.url = (match[1] ?? '') + (match[2] ?? '').replace(/%(?:2F|3F|3D|26|3A|40|2C|3B|2B|24|25)/gi, (escape) => decodeURIComponent(escape))
  // The path as the browser's URL parser reads it: after the origin, before `?` or `#`, without
  // the tabs and line breaks it drops, `\` a separator too; `.`, `..`, `%2e`... are dot segments.
  const path = typeof request.url === 'string' ? request.url.replace(/[\t\n\r]/g, '').replace(/^[a-z][a-z0-9+.-]*:[/\\]{2}[^/\\?#]*/i, '').split(/[?#]/)[0] ?? '' : ''
  if (path.split(/[/\\]/).some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment.trim()))) {
    const problem = { type: 'about:blank', title: 'Bad Request', status: 400, code: 'unsafe_path', detail: 'Not sent by /docs: the path has a dot segment (".", "..", "%2e"), which the browser would resolve before the BFF sees it.' }
    request.userFetch = async () => new Response(JSON.stringify(problem), { status: 400, headers: { 'content-type': 'application/problem+json; charset=utf-8' } })
  }
  return request
}
