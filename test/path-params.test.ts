import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { ADMIN, DEMO, login, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { GUIDE, V2 } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

/** Path parameters as a browser (or an attacker's script) would put them in the URL. */
const BAD_IDS = [
  ['an encoded traversal to /users', '..%2F..%2Fusers'],
  ['an encoded dot-dot', '%2e%2e'],
  ['an encoded upper-case dot-dot', '%2E%2E'],
  ['an encoded single dot', '%2e'],
  ['an encoded slash', '1%2F2'],
  ['an encoded backslash', '1%5C2'],
  ['an encoded NUL', '1%00'],
  ['an encoded newline', '1%0A'],
  ['an encoded space', 'a%20b'],
  ['a 100-character id', 'a'.repeat(100)],
  ['a 65-character id', '1'.repeat(65)],
  ['an encoded question mark', '1%3Fx%3D1'],
  ['an encoded hash', '1%23x'],
  ['a double-encoded slash', '1%252F2'],
  ['a double-encoded dot-dot', '%252e%252e'],
  ['a colon', 'a:b'],
  ['a dot', '1.2'],
  ['non-ASCII letters', '%C3%A9']
] as const

interface RawAnswer {
  statusCode: number
  headers: Record<string, string>
  body: string
}

/**
 * Sends one request with the path exactly as given, byte for byte, over a plain socket:
 * `inject` and browsers resolve `..` and `%2e%2e` segments before sending, curl --path-as-is
 * and scripts do not.
 */
async function rawRequest (port: number, method: string, path: string, headers: Record<string, string>, body: string): Promise<RawAnswer> {
  const head = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', `Content-Length: ${Buffer.byteLength(body)}`]
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`)
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => { socket.end(`${head.join('\r\n')}\r\n\r\n${body}`) })
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    socket.on('error', reject)
  })
  const [top = '', ...rest] = text.split('\r\n\r\n')
  const [statusLine = '', ...headerLines] = top.split('\r\n')
  const answerHeaders: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    answerHeaders[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { statusCode: Number(statusLine.split(' ')[1]), headers: answerHeaders, body: rest.join('\r\n\r\n') }
}

interface Case {
  route: string
  /** A profile whose upstream has the call (where it has none, the route answers 501 and proves nothing here). */
  profile: TestProfile
  credentials: { email: string, password: string }
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  path: (id: string) => string
  payload?: Record<string, unknown>
  /** The upstream calls `1?x=1&skip=5` as the id makes: a raw "?" starts the query, so only a route ending at the id is still routed, with id 1. */
  afterRawQuery: string[]
}

const CASES: Case[] = [
  { route: 'POST /api/agents/:agentId/chat-threads', profile: GUIDE, credentials: DEMO, method: 'POST', path: (id) => `/api/agents/${id}/chat-threads`, payload: {}, afterRawQuery: [] },
  { route: 'POST /api/agents/:agentId/responses', profile: GUIDE, credentials: DEMO, method: 'POST', path: (id) => `/api/agents/${id}/responses`, payload: { user_query: 'hi', chat_thread_id: 1 }, afterRawQuery: [] },
  { route: 'PATCH /api/users/:userId', profile: GUIDE, credentials: ADMIN, method: 'PATCH', path: (id) => `/api/users/${id}`, payload: { full_name: 'Moved' }, afterRawQuery: ['auth PATCH /api/users/1'] },
  { route: 'GET /api/agents/:agentId/chat-threads', profile: V2, credentials: DEMO, method: 'GET', path: (id) => `/api/agents/${id}/chat-threads`, afterRawQuery: [] },
  { route: 'GET /api/chat-threads/:threadId/responses', profile: V2, credentials: DEMO, method: 'GET', path: (id) => `/api/chat-threads/${id}/responses`, afterRawQuery: [] },
  { route: 'PATCH /api/chat-threads/:threadId', profile: V2, credentials: DEMO, method: 'PATCH', path: (id) => `/api/chat-threads/${id}`, payload: { title: 'Moved' }, afterRawQuery: ['api PUT /api/v2/chat-threads/1'] },
  { route: 'DELETE /api/chat-threads/:threadId', profile: V2, credentials: DEMO, method: 'DELETE', path: (id) => `/api/chat-threads/${id}`, afterRawQuery: ['api DELETE /api/v2/chat-threads/1'] },
  { route: 'POST /api/responses/:responseId/feedback', profile: V2, credentials: DEMO, method: 'POST', path: (id) => `/api/responses/${id}/feedback`, payload: { vote_type: 'upvote' }, afterRawQuery: [] }
]

interface Listening {
  context: TestContext
  /** Sends the route's call with this id in the path, raw. */
  send: (id: string) => Promise<RawAnswer>
  /** Upstream calls made since log-in. */
  upstreamCalls: () => string[]
}

async function listening (testCase: Case): Promise<Listening> {
  const context = await setup({ profile: testCase.profile })
  const cookie = await login(context, testCase.credentials)
  await context.app.listen({ port: 0, host: '127.0.0.1' })
  const port = (context.app.server.address() as AddressInfo).port
  const before = context.sim.requests.length
  const { payload } = testCase
  return {
    context,
    send: async (id) => await rawRequest(port, testCase.method, testCase.path(id), payload === undefined ? { cookie } : { cookie, 'content-type': 'application/json' }, payload === undefined ? '' : JSON.stringify(payload)),
    upstreamCalls: () => context.sim.requests.slice(before).map((request) => `${request.upstream} ${request.method} ${request.url}`)
  }
}

const UNSAFE_IDS: ReadonlyArray<readonly [string, string]> = [
  ...BAD_IDS,
  ['a bare dot-dot', '..'],
  ['a bare dot', '.'],
  ['an encoded traversal with raw dots', '..%2Fusers']
]

/** Ids the router itself refuses (or that name no route at all) before any schema runs. */
const UNROUTABLE_IDS: ReadonlyArray<readonly [string, string, readonly number[]]> = [
  ['a malformed percent escape', '%E0%A4%A', [400]],
  ['an id longer than the router allows', 'a'.repeat(300), [400, 414]],
  ['a literal space', 'a b', [400]],
  ['a raw traversal', '../../users', [400, 404]],
  ['a raw traversal to the password route', '../users/me/password', [400, 404]]
]

describe.each(CASES.map((testCase) => [testCase.route, testCase] as const))('path parameters of %s', (_route, testCase) => {
  // One app per route for all the ids; the answer map names any id that got through.
  it('refuses every unsafe id with 400 validation_failed (problem+json) and never calls upstream', async () => {
    const { send, upstreamCalls } = await listening(testCase)
    const answers: Record<string, string> = {}
    const expected: Record<string, string> = {}
    for (const [name, id] of UNSAFE_IDS) {
      const response = await send(id)
      const body = JSON.parse(response.body) as { code?: unknown }
      answers[`${name} (${id})`] = `${response.statusCode} ${String(body.code)} ${String(response.headers['content-type']).split(';')[0]}`
      expected[`${name} (${id})`] = '400 validation_failed application/problem+json'
    }
    expect(answers).toEqual(expected)
    expect(upstreamCalls()).toEqual([])
  })

  it('refuses ids the router cannot route and never calls upstream', async () => {
    const { send, upstreamCalls } = await listening(testCase)
    for (const [name, id, statuses] of UNROUTABLE_IDS) {
      const response = await send(id)
      expect(statuses, `${name}: ${response.statusCode} ${response.body}`).toContain(response.statusCode)
    }
    expect(upstreamCalls()).toEqual([])
  })

  it('refuses an empty id without calling upstream', async () => {
    const { send, upstreamCalls } = await listening(testCase)
    const response = await send('')
    // `/api/agents//chat-threads` fails the pattern; `/api/users/` is no PATCH route at all.
    expect([400, 404], response.body).toContain(response.statusCode)
    expect(upstreamCalls()).toEqual([])
  })

  it('never forwards a query hidden after a raw "?" in the id', async () => {
    const { send, upstreamCalls } = await listening(testCase)
    await send('1?x=1&skip=5')
    for (const call of upstreamCalls()) expect(call).not.toMatch(/x=1|skip=5/)
    // A raw "?" starts the query: `/api/users/1` is an ordinary id; the agent routes lose their tail.
    expect(upstreamCalls()).toEqual(testCase.afterRawQuery)
  })
})

describe('router-level refusals', () => {
  // Fastify's router refuses these before any route runs; without a `frameworkErrors` option its
  // own JSON (no `code`, application/json) is sent instead of the BFF's problem details.
  it.each([
    ['a malformed percent escape', '%E0%A4%A'],
    ['an id longer than the router allows', 'a'.repeat(300)]
  ])('answers %s with a problem+json body, like every other BFF error', async (_name, id) => {
    const { send, upstreamCalls } = await listening(CASES[0] as Case)
    const response = await send(id)
    expect(upstreamCalls()).toEqual([])
    expect(response.headers['content-type'], response.body).toContain('application/problem+json')
    expect(JSON.parse(response.body)).toMatchObject({ type: 'about:blank', status: response.statusCode })
    expect(typeof JSON.parse(response.body).code).toBe('string')
  })
})

describe('calls through inject (paths already resolved, as a browser sends them)', () => {
  it('refuses unsafe ids with 400 validation_failed and never calls upstream', async () => {
    const context = await setup()
    const cookie = await login(context)
    const before = context.sim.requests.length
    for (const id of ['..%2F..%2Fusers', '1%2F2', '1%00', 'a%20b', '1%3Fx%3D1', 'a'.repeat(100)]) {
      const response = await context.app.inject({ method: 'POST', url: `/api/agents/${id}/chat-threads`, headers: { cookie } })
      expect(`${response.statusCode} ${String(response.json().code)}`, id).toBe('400 validation_failed')
    }
    expect(context.sim.requests.slice(before)).toEqual([])
  })
})

async function loggedIn (credentials: { email: string, password: string }): Promise<{ context: TestContext, cookie: string, before: number }> {
  const context = await setup()
  const cookie = await login(context, credentials)
  return { context, cookie, before: context.sim.requests.length }
}

describe('valid ids pass through', () => {
  it('an integer agent id reaches /api/agent/{id}/chat-thread', async () => {
    const { context, cookie, before } = await loggedIn(DEMO)
    const response = await context.app.inject({ method: 'POST', url: '/api/agents/42/chat-threads', headers: { cookie } })
    // The simulator knows agents 1 and 2 only: its 404 passes through.
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ success: false, message: 'Agent not found' })
    expect(context.sim.requests.slice(before).map((request) => request.url)).toEqual(['/api/agent/42/chat-thread'])
  })

  it('an integer agent id reaches /api/agent/{id}/response', async () => {
    const { context, cookie, before } = await loggedIn(DEMO)
    const response = await context.app.inject({ method: 'POST', url: '/api/agents/2/responses', headers: { cookie }, payload: { user_query: 'hi', chat_thread_id: 999 } })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ success: false, message: 'Chat thread not found' })
    expect(context.sim.requests.slice(before).map((request) => request.url)).toEqual(['/api/agent/2/response'])
  })

  it('a uuid agent id passes the check (Ejento decides)', async () => {
    const { context, cookie, before } = await loggedIn(DEMO)
    const uuid = '3f2b8c1e-9d4a-4f7b-8e2a-1c5d6e7f8a9b'
    const response = await context.app.inject({ method: 'POST', url: `/api/agents/${uuid}/chat-threads`, headers: { cookie } })
    expect(response.statusCode).toBe(404)
    expect(context.sim.requests.slice(before).map((request) => request.url)).toEqual([`/api/agent/${uuid}/chat-thread`])
  })

  it('a uuid user id reaches /api/users/{id} and updates that user', async () => {
    const { context, cookie, before } = await loggedIn(ADMIN)
    const target = context.sim.state.userByEmail(DEMO.email)?.id as string
    expect(target).toMatch(/^[0-9a-f-]{36}$/)
    const response = await context.app.inject({ method: 'PATCH', url: `/api/users/${target}`, headers: { cookie }, payload: { full_name: 'Still Demo' } })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ id: target, full_name: 'Still Demo' })
    expect(context.sim.requests.slice(before).map((request) => `${request.method} ${request.url}`)).toEqual([`PATCH /api/users/${target}`])
  })

  it('an integer user id reaches /api/users/{id}', async () => {
    const { context, cookie, before } = await loggedIn(ADMIN)
    const response = await context.app.inject({ method: 'PATCH', url: '/api/users/42', headers: { cookie }, payload: { full_name: 'Nobody' } })
    expect(response.statusCode).toBe(404)
    expect(context.sim.requests.slice(before).map((request) => request.url)).toEqual(['/api/users/42'])
  })

  it('a 64-character id with - and _ is still accepted', async () => {
    const { context, cookie, before } = await loggedIn(DEMO)
    const id = `a-_${'9'.repeat(61)}`
    expect(id).toHaveLength(64)
    await context.app.inject({ method: 'POST', url: `/api/agents/${id}/chat-threads`, headers: { cookie } })
    expect(context.sim.requests.slice(before).map((request) => request.url)).toEqual([`/api/agent/${id}/chat-thread`])
  })
})

describe('ids in the body of a response call', () => {
  it.each(['../1', '1/2', '1?x=1', ''])('refuses chat_thread_id %j with 400 and never calls upstream', async (threadId) => {
    const { context, cookie, before } = await loggedIn(DEMO)
    const response = await context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie }, payload: { user_query: 'hi', chat_thread_id: threadId } })
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('validation_failed')
    expect(context.sim.requests.slice(before)).toEqual([])
  })
})

// The id pattern let `PATCH /api/users/refresh-access-token` reach the authentication server:
// harmless where it routes by method, a token-issuing call where it does not.
describe('regression: a user id never names a route beside /api/users/{id}', () => {
  it.each(['refresh-access-token', 'signup', 'login', 'me', 'token', 'access-token', 'refresh-token'])('PATCH /api/users/%s is 400 and never reaches upstream', async (id) => {
    const { send, upstreamCalls } = await listening(CASES[2] as Case)
    const response = await send(id)
    expect(response.statusCode).toBe(400)
    expect((JSON.parse(response.body) as { code?: string }).code).toBe('validation_failed')
    expect(upstreamCalls()).toEqual([])
  })

  it('an id that only contains such a word still passes', async () => {
    const { send, upstreamCalls } = await listening(CASES[2] as Case)
    await send('login-helper-7')
    expect(upstreamCalls()).toEqual(['auth PATCH /api/users/login-helper-7'])
  })
})
