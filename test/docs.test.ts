import SwaggerParser from '@apidevtools/swagger-parser'
import type { RouteOptions } from 'fastify'
import { describe, expect, it, vi } from 'vitest'
import { setup } from './helpers/app.js'

/** Every route any app registers, as its onRoute hook sees it (collected by wrapping the Fastify factory). */
const registered = vi.hoisted(() => [] as Array<{ url: string, methods: string[], hidden: boolean }>)

vi.mock('fastify', async (importOriginal) => {
  const original = await importOriginal<typeof import('fastify')>()
  const factory = original.default as unknown as (...args: unknown[]) => { addHook: (name: 'onRoute', hook: (route: RouteOptions) => void) => void }
  const wrapped = (...args: unknown[]): unknown => {
    const app = factory(...args)
    app.addHook('onRoute', (route) => {
      // A GET route also gets a HEAD twin of its own (exposeHeadRoutes); only methods a route declares count.
      if (route.method === 'HEAD') return
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      registered.push({ url: route.url, methods: methods.map((method) => method.toLowerCase()), hidden: (route.schema as { hide?: boolean } | undefined)?.hide === true })
    })
    return app
  }
  return { ...original, default: wrapped, fastify: wrapped }
})

/** The routes the contract (section 3) names, with their methods. */
const EXPECTED: Record<string, string[]> = {
  '/auth/signup': ['post'],
  '/auth/login': ['post'],
  '/auth/logout': ['post'],
  '/auth/session': ['get'],
  '/auth/refresh': ['post'],
  '/auth/sessions': ['get', 'delete'],
  '/auth/sessions/{handle}': ['delete'],
  '/auth/methods': ['get'],
  '/auth/passwordless/start': ['post'],
  '/auth/passwordless/verify': ['post'],
  '/auth/sso/{provider}': ['get'],
  '/auth/sso/callback': ['get'],
  '/api/agents/{agentId}/chat-threads': ['get', 'post'],
  '/api/agents/{agentId}/responses': ['post'],
  '/api/chat-threads/{threadId}': ['patch', 'delete'],
  '/api/chat-threads/{threadId}/responses': ['get'],
  '/api/responses/{responseId}/feedback': ['post'],
  '/api/users': ['get'],
  '/api/users/me/password': ['patch'],
  '/api/users/{userId}': ['patch'],
  '/proxy/ejento/{*}': ['get', 'head', 'post', 'put', 'patch', 'delete'],
  '/proxy/auth/{*}': ['get', 'head', 'post', 'put', 'patch', 'delete'],
  '/healthz': ['get'],
  '/readyz': ['get'],
  '/metrics': ['get']
}

/** The error statuses each route can answer, per the contract; every one must be documented. */
const SESSION_API_ERRORS = ['400', '401', '403', '502', '504']
const EXPECTED_ERRORS: Record<string, string[]> = {
  '/auth/signup': ['400', '403', '429', '502'],
  '/auth/login': ['400', '401', '403', '429', '502'],
  '/auth/logout': ['403'],
  '/auth/session': ['503'],
  '/auth/refresh': ['401', '403', '502'],
  '/auth/sessions': ['401', '503'],
  '/auth/sessions/{handle}': ['400', '401', '403', '404', '503'],
  '/auth/methods': [],
  '/auth/passwordless/start': ['400', '403', '429', '501', '502'],
  '/auth/passwordless/verify': ['400', '401', '403', '429', '501', '502'],
  '/auth/sso/{provider}': ['400', '429', '501'],
  '/auth/sso/callback': ['501'],
  '/api/agents/{agentId}/chat-threads': SESSION_API_ERRORS,
  '/api/agents/{agentId}/responses': SESSION_API_ERRORS,
  '/api/chat-threads/{threadId}': [...SESSION_API_ERRORS, '404', '501'],
  '/api/chat-threads/{threadId}/responses': [...SESSION_API_ERRORS, '404', '501'],
  '/api/responses/{responseId}/feedback': [...SESSION_API_ERRORS, '404', '422', '501'],
  '/api/users': ['400', '401', '502', '504'],
  '/api/users/me/password': SESSION_API_ERRORS,
  '/api/users/{userId}': SESSION_API_ERRORS,
  '/proxy/ejento/{*}': ['401', '403', '413', '502', '504'],
  '/proxy/auth/{*}': ['401', '403', '413', '502', '504'],
  '/healthz': [],
  '/readyz': ['503'],
  '/metrics': ['401']
}

interface Operation {
  responses?: Record<string, { description?: string }>
  security?: Array<Record<string, string[]>>
  parameters?: Array<{ in: string, name: string, required?: boolean }>
}

interface OpenApiDocument {
  openapi: string
  info: { title: string, version: string }
  paths: Record<string, Record<string, Operation>>
  components?: { securitySchemes?: Record<string, { type: string, in?: string, name?: string }> }
}

/** A Fastify URL as an OpenAPI path template: `:id` → `{id}`, a trailing `*` → `{*}`. */
function openApiPath (url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{*}')
}

async function documentOf (): Promise<{ doc: OpenApiDocument, cookieName: string }> {
  const context = await setup()
  const response = await context.app.inject({ method: 'GET', url: '/docs/json' })
  expect(response.statusCode).toBe(200)
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  return { doc: response.json(), cookieName: context.config.session.cookieName }
}

describe('GET /docs/json', () => {
  it('is an OpenAPI 3.1 document that swagger-parser validates', async () => {
    const { doc } = await documentOf()
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.info.title).toBe('Ejento BFF')
    const validated = await SwaggerParser.validate(structuredClone(doc) as unknown as Parameters<typeof SwaggerParser.validate>[0])
    expect(Object.keys(validated.paths ?? {}).length).toBe(Object.keys(doc.paths).length)
  })

  it('lists every route the app registers, with its methods, and nothing else', async () => {
    registered.length = 0
    const { doc } = await documentOf()
    const routes = new Map<string, Set<string>>()
    for (const route of registered.filter((candidate) => !candidate.hidden)) {
      const path = openApiPath(route.url)
      const methods = routes.get(path) ?? new Set<string>()
      for (const method of route.methods) methods.add(method)
      routes.set(path, methods)
    }
    // The collection saw the app's routes, not an empty list.
    expect([...routes.keys()].sort()).toEqual(Object.keys(EXPECTED).sort())
    for (const [path, methods] of Object.entries(EXPECTED)) expect([...(routes.get(path) ?? [])].sort(), path).toEqual([...methods].sort())

    expect(Object.keys(doc.paths).sort()).toEqual([...routes.keys()].sort())
    for (const [path, methods] of routes) {
      expect(Object.keys(doc.paths[path] ?? {}).filter((key) => key !== 'parameters').sort(), path).toEqual([...methods].sort())
    }
    // The hidden routes are the docs UI and the CORS preflight, nothing of the API.
    for (const route of registered.filter((candidate) => candidate.hidden)) expect(route.url).toMatch(/^(\/docs(\/.*)?|\*)$/)
  })

  it('documents each route\'s error statuses', async () => {
    const { doc } = await documentOf()
    for (const [path, errors] of Object.entries(EXPECTED_ERRORS)) {
      for (const [method, operation] of Object.entries(doc.paths[path] ?? {})) {
        const documented = Object.keys(operation.responses ?? {})
        // A navigation's success is its redirect (the SSO routes answer 302).
        expect(documented.some((status) => /^2(\d\d|XX)$/.test(status) || (path.startsWith('/auth/sso/') && status === '302')), `${method} ${path} documents a success`).toBe(true)
        for (const status of errors) expect(documented, `${method.toUpperCase()} ${path} documents ${status}`).toContain(status)
        for (const [status, answer] of Object.entries(operation.responses ?? {})) {
          expect(answer.description, `${method} ${path} ${status} has a description`).toBeTruthy()
        }
      }
    }
    const login = doc.paths['/auth/login']?.post?.responses ?? {}
    expect(login['401']?.description).toMatch(/invalid_credentials/)
    expect(login['429']?.description).toMatch(/rate_limited/)
    const thread = doc.paths['/api/agents/{agentId}/chat-threads']?.post?.responses ?? {}
    expect(thread['401']?.description).toMatch(/not_authenticated/)
    expect(thread['502']?.description).toMatch(/upstream_unavailable/)
  })

  it('marks the routes that need a session with the cookie security scheme and documents path parameters', async () => {
    const { doc, cookieName } = await documentOf()
    expect(doc.components?.securitySchemes?.session).toEqual({ type: 'apiKey', in: 'cookie', name: cookieName })
    for (const [path, operations] of Object.entries(doc.paths)) {
      if (!path.startsWith('/api/') && !path.startsWith('/proxy/')) continue
      for (const [method, operation] of Object.entries(operations)) {
        expect(operation.security, `${method} ${path}`).toEqual([{ session: [] }])
      }
    }
    const agent = doc.paths['/api/agents/{agentId}/chat-threads']?.post?.parameters ?? []
    expect(agent).toContainEqual(expect.objectContaining({ in: 'path', name: 'agentId', required: true }))
    const user = doc.paths['/api/users/{userId}']?.patch?.parameters ?? []
    expect(user).toContainEqual(expect.objectContaining({ in: 'path', name: 'userId', required: true }))
  })
})

describe('GET /docs', () => {
  it('answers the UI page, whose scripts, styles and document all answer 200', async () => {
    const context = await setup()
    const page = await context.app.inject({ method: 'GET', url: '/docs' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    const html = page.body
    expect(html).toMatch(/<div id="swagger-ui">/)

    const references = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((match) => match[1] as string)
    expect(references.length).toBeGreaterThanOrEqual(4)
    // The page's CSP allows only same-origin scripts: no inline script may be needed.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    expect(String(page.headers['content-security-policy'])).toMatch(/script-src 'self'/)

    const base = new URL('http://bff.test/docs')
    const expectedTypes: Record<string, RegExp> = { '.js': /javascript/, '.css': /^text\/css/, '.png': /^image\/png/ }
    for (const reference of references) {
      const url = new URL(reference, base)
      expect(url.origin, reference).toBe(base.origin)
      const asset = await context.app.inject({ method: 'GET', url: url.pathname + url.search })
      expect(asset.statusCode, url.pathname).toBe(200)
      const extension = /\.[a-z]+$/.exec(url.pathname)?.[0] ?? ''
      if (expectedTypes[extension] !== undefined) expect(asset.headers['content-type'], url.pathname).toMatch(expectedTypes[extension])
      expect(asset.rawPayload.length, url.pathname).toBeGreaterThan(0)
    }
    expect(references.some((reference) => reference.endsWith('swagger-ui-bundle.js'))).toBe(true)

    // The initializer loads the document from ./json relative to the page: /docs/json.
    const initializer = references.find((reference) => reference.endsWith('swagger-initializer.js'))
    expect(initializer).toBeDefined()
    const script = await context.app.inject({ method: 'GET', url: new URL(initializer as string, base).pathname })
    expect(script.body).toMatch(/resolveUrl\('\.\/json'\)/)
    const json = await context.app.inject({ method: 'GET', url: '/docs/json' })
    expect(json.statusCode).toBe(200)
  })
})
