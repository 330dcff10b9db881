import SwaggerParser from '@apidevtools/swagger-parser'
import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { startSimulator } from '../src/simulator/index.js'
import { ADMIN, DEMO, login, onCleanup, setup, testConfig } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { ContractChecker, ContractViolation, checkAnswersAgainstDocument, injectUnchecked } from './helpers/contract.js'
import type { OpenApiDocument } from './helpers/contract.js'
import { GUIDE, PROFILES, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

/**
 * The OpenAPI document as a contract: it is valid, it describes what the routes answer (every
 * answer of this file, as of every file that uses setup(), is checked against it by the
 * wrapped app.inject), and describing an answer never changes it.
 */

interface Operation {
  requestBody?: { required?: boolean, content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> }
  responses: Record<string, { content?: Record<string, { schema?: unknown, 'x-sse-events'?: Record<string, { $ref?: string }> }> }>
}

interface Document extends OpenApiDocument {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, unknown> }
}

async function documentOf (context: TestContext): Promise<Document> {
  const response = await context.app.inject({ method: 'GET', url: '/docs/json' })
  expect(response.statusCode).toBe(200)
  return response.json()
}

/** Every `$ref` in a JSON value. */
function refsIn (value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn)
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, inner]) => key === '$ref' && typeof inner === 'string' ? [inner] : refsIn(inner))
}

/** Fast streams: the simulator's words 1 ms apart. */
const FAST = { streamIntervalMs: 1 }

describe.each(PROFILES)('the OpenAPI document on %s', (_name, profile) => {
  it('is valid OpenAPI 3.1, and every reference names a schema it has', async () => {
    const context = await setup({ profile })
    const doc = await documentOf(context)
    expect(doc.openapi).toBe('3.1.0')
    await SwaggerParser.validate(structuredClone(doc) as unknown as Parameters<typeof SwaggerParser.validate>[0])
    const refs = refsIn(doc)
    expect(refs.length).toBeGreaterThan(50)
    for (const ref of refs) {
      expect(ref, ref).toMatch(/^#\/components\/schemas\/[A-Za-z0-9]+$/)
      expect(doc.components.schemas[ref.split('/').pop() as string], ref).toBeDefined()
    }
    // Ejento's answers have schemas of their own, named for generated clients.
    for (const name of ['ChatThread', 'ChatThreadAnswer', 'ChatThreadList', 'AgentAnswer', 'ThreadHistory', 'FeedbackAnswer', 'UserList', 'User', 'PasswordChanged', 'Deleted', 'AgentStreamEvent', 'Problem']) {
      expect(doc.components.schemas[name], name).toBeDefined()
    }
  })

  it('documents the form log-in beside JSON, and the new thread\'s body as optional', async () => {
    const context = await setup({ profile })
    const doc = await documentOf(context)
    const logIn = doc.paths['/auth/login']?.post?.requestBody
    expect(logIn?.required).toBe(true)
    expect(Object.keys(logIn?.content ?? {}).sort()).toEqual(['application/json', 'application/x-www-form-urlencoded'])
    expect(Object.keys(logIn?.content?.['application/x-www-form-urlencoded']?.schema?.properties ?? {})).toEqual(expect.arrayContaining(['username', 'password']))
    expect(doc.paths['/api/agents/{agentId}/chat-threads']?.post?.requestBody?.required).toBe(false)

    // What the document says works: the form log-in, and a new thread without a body.
    const form = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ username: DEMO.email, password: DEMO.password }).toString()
    })
    expect(form.statusCode).toBe(200)
    const cookie = await login(context)
    const thread = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie } })
    expect(thread.statusCode).toBe(201)
  })

  it('documents the answer stream as text/event-stream, each event name with its data schema', async () => {
    const context = await setup({ profile })
    const doc = await documentOf(context)
    const answer = doc.paths['/api/agents/{agentId}/responses']?.post?.responses['200']
    expect(Object.keys(answer?.content ?? {}).sort()).toEqual(['application/json', 'text/event-stream'])
    const stream = answer?.content?.['text/event-stream']
    expect(stream?.schema).toEqual({ $ref: '#/components/schemas/AgentStreamEvent' })
    expect(Object.fromEntries(Object.entries(stream?.['x-sse-events'] ?? {}).map(([name, schema]) => [name, schema.$ref]))).toEqual({
      start: '#/components/schemas/GuideStreamStart',
      token: '#/components/schemas/GuideStreamToken',
      end: '#/components/schemas/GuideStreamEnd',
      error: '#/components/schemas/GuideStreamError',
      message: '#/components/schemas/V2StreamEvent'
    })
  })
})

describe('the contract check', () => {
  it('fails the inject call of an answer that drifted from the document, naming the route and the field', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const app = await buildApp({ config: testConfig(sim), logStream: { write: () => {} } })
    onCleanup(async () => { await app.close() })
    // A route whose code no longer answers what its schema documents (sent as a string, as the upstream routes send).
    app.get('/drifted/:id', {
      schema: { tags: ['operations'], response: { 200: { description: 'A thing', content: { 'application/json': { schema: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] } } } } } }
    }, async (_request, reply) => await reply.type('application/json').send('{"name":"no id"}'))
    checkAnswersAgainstDocument(app, sim)
    await app.ready()
    const rejected = app.inject({ method: 'GET', url: '/drifted/1' })
    await expect(rejected).rejects.toBeInstanceOf(ContractViolation)
    await expect(rejected).rejects.toThrow(/GET \/drifted\/\{id\} → 200 application\/json: body must have required property 'id'/)
  })

  it('holds an answer the simulated Ejento was made to break to its status and media type; the BFF\'s problems always whole', async () => {
    const context = await setup()
    const cookie = await login(context)
    // A thread without an id: not what Ejento's contract allows; the BFF passes it on as it came.
    context.sim.inject({ upstream: 'api', method: 'POST', path: exactPath(GUIDE.paths.api.chatThread('1')), status: 201, body: { success: true, data: { title: 'no id' } } })
    const passed = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })
    expect(passed.statusCode).toBe(201)
    const checker = new ContractChecker(await documentOf(context))
    const answer = { method: 'POST', route: '/api/agents/:agentId/chat-threads', status: 201, contentType: 'application/json', body: passed.body }
    expect(checker.violations(answer).join()).toMatch(/body\/data must have required property 'id'/)
    expect(checker.violations({ ...answer, upstreamMadeUp: true })).toEqual([])
    expect(checker.violations({ ...answer, upstreamMadeUp: true, status: 302 }).join()).toMatch(/answered 302/)
    expect(checker.violations({ ...answer, upstreamMadeUp: true, status: 502, contentType: 'application/problem+json', body: '{"code":"upstream_error"}' }).join()).toMatch(/must have required property 'type'/)
  })

  it('finds an undocumented status, media type, missing body and malformed JSON', async () => {
    const context = await setup()
    const checker = new ContractChecker(await documentOf(context))
    const answer = { method: 'GET', route: '/auth/session', status: 200, contentType: 'application/json; charset=utf-8', body: '{"authenticated":false}' }
    expect(checker.violations(answer)).toEqual([])
    expect(checker.violations({ ...answer, status: 418 }).join()).toMatch(/answered 418, which the document does not list/)
    expect(checker.violations({ ...answer, contentType: 'text/html' }).join()).toMatch(/content type text\/html is not documented/)
    expect(checker.violations({ ...answer, body: '' }).join()).toMatch(/describes a body/)
    expect(checker.violations({ ...answer, body: '{"authenticated":' }).join()).toMatch(/not JSON/)
    expect(checker.violations({ ...answer, body: '{"authenticated":"yes"}' }).join()).toMatch(/body\/authenticated must be boolean/)
    expect(checker.violations({ ...answer, method: 'DELETE' }).join()).toMatch(/no DELETE operation/)
    // A route the document does not list (the docs UI) is not checked.
    expect(checker.violations({ ...answer, route: '/docs/json' })).toEqual([])
  })

  it('checks an event stream event by event, by each event\'s name', async () => {
    const context = await setup()
    const checker = new ContractChecker(await documentOf(context))
    const stream = (body: string): string[] => checker.violations({ method: 'POST', route: '/api/agents/:agentId/responses', status: 200, contentType: 'text/event-stream; charset=utf-8', body })
    const guide = 'event: start\ndata: {"chat_thread_id":1}\n\nevent: token\ndata: {"delta":"Hi"}\n\nevent: end\ndata: {"output":{"answer":"Hi","chat_thread_id":1}}\n\n'
    expect(stream(guide)).toEqual([])
    const v2 = 'data: {"step":"tools_stream","delta":"Searching"}\n\ndata: {"step":"searching","message":"a status"}\n\ndata: {"step":"assistant_stream","delta":"Hi"}\n\n' +
      'data: {"step":"end","success":true,"output":{"answer":"Hi","thread_id":7}}\n\ndata: {"step":"error","message":"The upstream stream ended unexpectedly.","code":"upstream_stream_failed"}\n\n'
    expect(stream(v2)).toEqual([])
    expect(stream('event: token\ndata: {"text":"Hi"}\n\n').join()).toMatch(/event 0 \(token\): data must have required property 'delta'/)
    expect(stream('data: {"step":"assistant_stream"}\n\n').join()).toMatch(/event 0 \(message\)/)
    expect(stream('event: progress\ndata: {}\n\n').join()).toMatch(/named progress, which x-sse-events does not list/)
  })
})

/** A question asked as a stream, read whole (inject waits for the stream's end). */
async function askStream (context: TestContext, cookie: string): Promise<LightMyRequestResponse> {
  return await context.app.inject({
    method: 'POST',
    url: '/api/agents/1/responses',
    headers: { cookie, accept: 'text/event-stream' },
    payload: { user_query: 'What is a contract?' }
  })
}

describe.each(PROFILES)('every route\'s answers conform to the document on %s', (_name, profile) => {
  it('from sign-up to log-out, the conversation routes and streams included', async () => {
    const context = await setup({ profile, sim: FAST })
    const { app } = context
    const v2 = profile.name === 'v2'
    const send = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, cookie?: string, payload?: unknown): Promise<LightMyRequestResponse> =>
      await app.inject({ method, url, ...(cookie === undefined ? {} : { headers: { cookie } }), ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) })

    expect((await send('GET', '/auth/methods')).statusCode).toBe(200)
    expect((await send('GET', '/auth/session')).statusCode).toBe(200)
    expect((await send('POST', '/auth/signup', undefined, { email: 'contract@example.com', password: 'contract-password', full_name: 'Con Tract' })).statusCode).toBe(200)
    expect((await send('POST', '/auth/signup', undefined, { email: 'contract@example.com', password: 'contract-password' })).statusCode).toBe(400)
    expect((await send('POST', '/auth/login', undefined, { email: DEMO.email, password: 'wrong-password' })).statusCode).toBe(401)
    const cookie = await login(context)
    expect((await send('GET', '/auth/session', cookie)).statusCode).toBe(200)
    expect((await send('GET', '/auth/sessions', cookie)).statusCode).toBe(200)
    expect((await send('POST', '/auth/refresh', cookie)).statusCode).toBe(204)

    const thread = await send('POST', '/api/agents/1/chat-threads', cookie, {})
    expect(thread.statusCode).toBe(201)
    const threadId = String((thread.json() as { data: { id: unknown } }).data.id)
    const asked = await send('POST', '/api/agents/1/responses', cookie, { user_query: 'Hello?', chat_thread_id: Number(threadId) })
    expect(asked.statusCode).toBe(200)
    const started = await send('POST', '/api/agents/1/responses', cookie, { user_query: 'A new conversation?' })
    expect(started.statusCode).toBe(200)
    const streamed = await askStream(context, cookie)
    expect(streamed.statusCode).toBe(200)
    expect(streamed.headers['content-type']).toMatch(/^text\/event-stream/)
    expect(streamed.body).toContain(v2 ? '"step":"end"' : 'event: end')
    expect((await send('POST', '/api/agents/999/responses', cookie, { user_query: 'Nobody?' })).statusCode).toBe(404)

    const responseId = String((asked.json() as { data: { agent_response_id?: unknown } }).data.agent_response_id ?? 1)
    const conversations = [
      await send('GET', '/api/agents/1/chat-threads', cookie),
      await send('GET', `/api/chat-threads/${threadId}/responses`, cookie),
      await send('PATCH', `/api/chat-threads/${threadId}`, cookie, { title: 'Renamed' }),
      await send('POST', `/api/responses/${responseId}/feedback`, cookie, { vote_type: 'upvote' }),
      await send('POST', `/api/responses/${responseId}/feedback`, cookie, { vote_type: 'sideways' }),
      await send('DELETE', `/api/chat-threads/${threadId}`, cookie),
      await send('DELETE', `/api/chat-threads/${threadId}`, cookie)
    ]
    expect(conversations.map((response) => response.statusCode)).toEqual(v2 ? [200, 200, 200, 201, 422, 200, 404] : [501, 501, 501, 501, 501, 501, 501])

    expect((await send('GET', '/api/users?limit=5', cookie)).statusCode).toBe(200)
    expect((await send('GET', `/proxy/ejento${profile.agentsPath}`, cookie)).statusCode).toBe(200)
    expect((await send('GET', `/proxy/ejento/${'api/..%2Fx'}`, cookie)).statusCode).toBe(400)
    const admin = await login(context, ADMIN)
    const users = (await send('GET', '/api/users', admin)).json() as { data: Array<{ id: string, email: string }> }
    const demoId = users.data.find((user) => user.email === DEMO.email)?.id as string
    expect((await send('PATCH', `/api/users/${demoId}`, admin, { full_name: 'Demo Renamed' })).statusCode).toBe(200)
    expect((await send('PATCH', `/api/users/${demoId}`, cookie, { full_name: 'Not an admin' })).statusCode).toBe(403)
    expect((await send('PATCH', '/api/users/me/password', cookie, { current_password: DEMO.password, new_password: 'another-password' })).statusCode).toBe(200)
    expect((await send('POST', '/auth/logout')).statusCode).toBe(204)
    expect((await send('GET', '/api/users')).statusCode).toBe(401)
  })

  it('a stream the upstream drops ends with the BFF\'s error event, as the document describes it', async () => {
    const context = await setup({ profile, sim: FAST })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: exactPath(profile.paths.api.responseStream('1')), dropStreamAfterEvents: 3 })
    const streamed = await askStream(context, cookie)
    expect(streamed.statusCode).toBe(200)
    expect(streamed.body).toContain('upstream_stream_failed')
  })
})

/** Fields no schema names, of every JSON kind, and text a serialiser could mangle. */
const EXTRA = {
  extra_text: 'é ✓ "quoted" \\ back\u2028slash </script>',
  extra_null: null,
  extra_nested: { deep: [1, 'two', { three: 3.5, four: [] }], empty: {} },
  extra_big: 9007199254740991,
  extra_small: 1e-7,
  extra_negative: -0.5,
  extra_false: false
}

/** Named fields with types the schemas do not give them: passed through all the same (never coerced). */
const MISTYPED = { id: true, email: 42, title: ['a', 'b'], answer: { text: 'an object' }, success: 'yes', data_count: '7' }

interface RouteCase {
  name: string
  /** Only where the profile's upstream has the call. */
  when?: (profile: TestProfile) => boolean
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  url: string
  /** The Fastify route that answers `url`. */
  route: string
  payload?: Record<string, unknown>
  as?: 'admin'
  upstream: 'auth' | 'api'
  upstreamMethod: string
  upstreamPath: (profile: TestProfile) => string
  status: number
  /** An answer of the documented shape. */
  answer: Record<string, unknown>
  /** What the BFF adds to it. */
  added?: Record<string, unknown>
}

const v2Only = (profile: TestProfile): boolean => profile.name === 'v2'
const envelope = (data: unknown): Record<string, unknown> => ({ success: true, message: 'OK', data, ...EXTRA })

const ROUTES: RouteCase[] = [
  { name: 'sign-up', method: 'POST', route: '/auth/signup', url: '/auth/signup', payload: { email: 'odd@example.com', password: 'odd-password' }, upstream: 'auth', upstreamMethod: 'POST', upstreamPath: (p) => p.paths.auth.signup, status: 200, answer: { id: 'u-1', email: 'odd@example.com', full_name: null, is_active: true, is_superuser: false, ...EXTRA } },
  { name: 'users', method: 'GET', route: '/api/users', url: '/api/users', upstream: 'auth', upstreamMethod: 'GET', upstreamPath: (p) => p.paths.auth.users, status: 200, answer: { data: [{ id: 7, email: 'a@example.com', ...EXTRA }], count: 1, ...EXTRA } },
  { name: 'user change', method: 'PATCH', route: '/api/users/:userId', url: '/api/users/u-1', payload: { full_name: 'Odd' }, as: 'admin', upstream: 'auth', upstreamMethod: 'PATCH', upstreamPath: (p) => p.paths.auth.user('u-1'), status: 200, answer: { id: 'u-1', email: 'odd@example.com', full_name: 'Odd', ...EXTRA } },
  { name: 'own password', method: 'PATCH', route: '/api/users/me/password', url: '/api/users/me/password', payload: { current_password: 'demo-password', new_password: 'odd-password' }, upstream: 'auth', upstreamMethod: 'PATCH', upstreamPath: (p) => p.paths.auth.ownPassword, status: 200, answer: { message: 'Password updated', ...EXTRA }, added: { ended_sessions: 0 } },
  { name: 'user refusal', method: 'GET', route: '/api/users', url: '/api/users', upstream: 'auth', upstreamMethod: 'GET', upstreamPath: (p) => p.paths.auth.users, status: 404, answer: { detail: 'Nothing here', ...EXTRA } },
  { name: 'new thread', method: 'POST', route: '/api/agents/:agentId/chat-threads', url: '/api/agents/1/chat-threads', payload: {}, upstream: 'api', upstreamMethod: 'POST', upstreamPath: (p) => p.paths.api.chatThread('1'), status: 201, answer: envelope({ id: 5, title: 'New chat', ...EXTRA }) },
  { name: 'thread refusal', method: 'POST', route: '/api/agents/:agentId/chat-threads', url: '/api/agents/1/chat-threads', payload: {}, upstream: 'api', upstreamMethod: 'POST', upstreamPath: (p) => p.paths.api.chatThread('1'), status: 404, answer: { success: false, message: 'Agent not found', ...EXTRA } },
  { name: 'answer', method: 'POST', route: '/api/agents/:agentId/responses', url: '/api/agents/1/responses', payload: { user_query: 'Odd?', chat_thread_id: 5 }, upstream: 'api', upstreamMethod: 'POST', upstreamPath: (p) => p.paths.api.response('1'), status: 200, answer: envelope({ answer: 'Even.', references: [{ url: 'https://example.com', ...EXTRA }], chat_thread_id: 5, thread_id: 5, ...EXTRA }) },
  { name: 'conversations', when: v2Only, method: 'GET', route: '/api/agents/:agentId/chat-threads', url: '/api/agents/1/chat-threads', upstream: 'api', upstreamMethod: 'GET', upstreamPath: (p) => p.paths.api.chatThreads?.('1') ?? '', status: 200, answer: envelope({ chat_threads: [{ id: 5, title: null, ...EXTRA }], ...EXTRA }) },
  { name: 'history', when: v2Only, method: 'GET', route: '/api/chat-threads/:threadId/responses', url: '/api/chat-threads/5/responses', upstream: 'api', upstreamMethod: 'GET', upstreamPath: (p) => p.paths.api.threadResponses?.('5') ?? '', status: 200, answer: envelope({ agent_responses: [{ id: 9, question: 'Odd?', response: { answer: 'Even.', ...EXTRA }, feedback: [], ...EXTRA }] }) },
  { name: 'rename', when: v2Only, method: 'PATCH', route: '/api/chat-threads/:threadId', url: '/api/chat-threads/5', payload: { title: 'Odd' }, upstream: 'api', upstreamMethod: 'PUT', upstreamPath: (p) => p.paths.api.thread?.('5') ?? '', status: 200, answer: envelope({ id: 5, title: 'Odd', ...EXTRA }) },
  { name: 'delete', when: v2Only, method: 'DELETE', route: '/api/chat-threads/:threadId', url: '/api/chat-threads/5', upstream: 'api', upstreamMethod: 'DELETE', upstreamPath: (p) => p.paths.api.thread?.('5') ?? '', status: 200, answer: { success: true, message: 'Deleted', ...EXTRA } },
  { name: 'feedback', when: v2Only, method: 'POST', route: '/api/responses/:responseId/feedback', url: '/api/responses/9/feedback', payload: { vote_type: 'upvote' }, upstream: 'api', upstreamMethod: 'POST', upstreamPath: (p) => p.paths.api.feedback?.('9') ?? '', status: 201, answer: envelope({ id: 3, vote_type: 'upvote', ...EXTRA }) }
]

describe.each(PROFILES)('Ejento\'s answers pass through unchanged on %s', (_name, profile) => {
  const cases = ROUTES.filter((route) => route.when?.(profile) ?? true)

  async function answerOf (route: RouteCase, answer: Record<string, unknown>, inject: 'checked' | 'unchecked'): Promise<{ response: LightMyRequestResponse, context: TestContext }> {
    const context = await setup({ profile })
    const cookie = await login(context, route.as === 'admin' ? ADMIN : DEMO)
    context.sim.inject({ upstream: route.upstream, method: route.upstreamMethod, path: exactPath(route.upstreamPath(profile)), status: route.status, body: answer })
    const request = { method: route.method, url: route.url, headers: { cookie }, ...(route.payload === undefined ? {} : { payload: route.payload }) }
    const response = inject === 'checked' ? await context.app.inject(request) : await injectUnchecked(context.app, request)
    // The injected answer was the one given (not the simulator's own).
    expect(context.sim.requestsTo(route.upstream === 'auth' ? 'auth' : 'api', exactPath(route.upstreamPath(profile))).length).toBe(1)
    return { response, context }
  }

  it.each(cases.map((route) => [route.name, route] as const))('%s: extra fields of every kind, as the upstream wrote them (and the document allows them)', async (_route, route) => {
    const { response, context } = await answerOf(route, route.answer, 'checked')
    expect(response.statusCode).toBe(route.status)
    // The answer (an injected one, which setup()'s check holds to its status only) is one the document allows.
    const checker = new ContractChecker(await documentOf(context))
    expect(checker.violations({ method: route.method, route: route.route, status: response.statusCode, contentType: response.headers['content-type']?.toString(), body: response.body })).toEqual([])
    const expected = { ...route.answer, ...route.added }
    expect(response.json()).toEqual(expected)
    // The same JSON, key for key in the upstream's order: nothing re-serialised it by a schema.
    expect(response.body).toBe(JSON.stringify(expected))
  })

  it.each(cases.map((route) => [route.name, route] as const))('%s: named fields of unexpected types, never coerced nor dropped', async (_route, route) => {
    const answer = { ...route.answer, ...MISTYPED }
    const { response } = await answerOf(route, answer, 'unchecked')
    expect(response.statusCode).toBe(route.status)
    expect(response.body).toBe(JSON.stringify({ ...answer, ...route.added }))
  })

  it('the passthrough\'s JSON, byte for byte', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const text = ` {"data": [{"id": 1, "name": "Odd", "extra": ${JSON.stringify(EXTRA)}}],\n "count": 1.50} `
    context.sim.inject({ upstream: 'api', method: 'GET', path: exactPath(profile.agentsPath), status: 200, body: text, headers: { 'content-type': 'application/json' } })
    const response = await context.app.inject({ method: 'GET', url: `/proxy/ejento${profile.agentsPath}`, headers: { cookie } })
    expect(response.statusCode).toBe(200)
    expect(response.body).toBe(text)
  })
})
