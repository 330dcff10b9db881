import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** OpenAPI generated from the route schemas: a UI at /docs, the document at /docs/json. */
export default fp(async function docs (app: FastifyInstance, options: { cookieName: string }) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Ejento BFF',
        description: 'Backend-for-frontend for Ejento. The browser holds only an HttpOnly session cookie; the BFF keeps the Ejento tokens and calls Ejento with them. Errors made by the BFF are RFC 9457 problem details with a stable `code`.',
        version: '0.1.0'
      },
      tags: [
        { name: 'session', description: 'Sign-up, log-in, the session, log-out' },
        { name: 'operations', description: 'Health, readiness, metrics' }
      ],
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: options.cookieName }
        }
      }
    }
  })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // swagger-ui's own policy, minus upgrade-insecure-requests (which breaks /docs served over plain http).
    staticCSP: "default-src 'self'; base-uri 'self'; font-src 'self' https: data:; form-action 'self'; frame-ancestors 'self'; img-src 'self' data: validator.swagger.io; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self' https: 'unsafe-inline'",
    uiConfig: { docExpansion: 'list', deepLinking: false }
  })
}, { name: 'docs' })
