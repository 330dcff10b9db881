import { describe, expect, it } from 'vitest'
import type { RecordedRequest } from '../src/simulator/index.js'
import { DEMO, login, setup, sleep } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { kindOf, takeEvents } from './helpers/event-stream.js'
import { PROFILES, answerThreadId, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

const QUESTION = 'Where do new conversations come from?'

/** How the browser leaves the thread out: `chat_thread_id: null`, or no such field at all. */
const NO_THREAD: ReadonlyArray<[string, Record<string, unknown>]> = [
  ['null', { chat_thread_id: null }],
  ['absent', {}]
]

interface Session {
  context: TestContext
  cookie: string
  /** The API server's calls since log-in, as `METHOD /path`. */
  apiCalls: () => string[]
  apiRecords: () => RecordedRequest[]
}

async function loggedIn (profile: TestProfile): Promise<Session> {
  const context = await setup({ profile, sim: { streamIntervalMs: 1 } })
  const cookie = await login(context)
  const before = context.sim.requests.length
  const apiRecords = (): RecordedRequest[] => context.sim.requests.slice(before).filter((request) => request.upstream === 'api')
  return { context, cookie, apiRecords, apiCalls: () => apiRecords().map((request) => `${request.method} ${request.url}`) }
}

function demoId (context: TestContext): string {
  return context.sim.state.userByEmail(DEMO.email)?.id as string
}

/** The upstream calls one question without a thread makes: the profile's upstream starts the thread, or the BFF makes one first. */
function expectedCalls (profile: TestProfile, stream: boolean): string[] {
  const { api } = profile.paths
  const ask = `POST ${stream ? api.responseStream('1') : api.response('1')}`
  return api.responseCreatesThread ? [ask] : [`POST ${api.chatThread('1')}`, ask]
}

function bodyOf (request: RecordedRequest | undefined): Record<string, unknown> {
  return JSON.parse(request?.body.toString('utf8') ?? 'null') as Record<string, unknown>
}

/** The thread id a stream names: the guide's `start` event, v2's `end` output. */
function streamThreadId (text: string): unknown {
  const { events, rest } = takeEvents(text)
  expect(rest).toBe('')
  const start = events.find((event) => kindOf(event) === 'start')
  if (start !== undefined) return (start.data as { chat_thread_id?: unknown }).chat_thread_id
  return (events.find((event) => kindOf(event) === 'end')?.data as { output?: { thread_id?: unknown } } | undefined)?.output?.thread_id
}

/** After the answer: the question went upstream with the new thread (guide) or with null (v2), and the thread is the user's. */
function expectNewThread (session: Session, profile: TestProfile, threadId: unknown, threadsBefore: number): void {
  const { context } = session
  expect(context.sim.state.threads.size).toBe(threadsBefore + 1)
  const thread = context.sim.state.threads.get(Number(threadId))
  expect(thread, `thread ${String(threadId)}`).toBeDefined()
  expect(thread).toMatchObject({ agentId: 1, userId: demoId(context) })
  const asked = bodyOf(session.apiRecords().at(-1))
  expect(asked).toMatchObject({ user_query: QUESTION })
  expect(asked.chat_thread_id).toBe(profile.paths.api.responseCreatesThread ? null : threadId)
}

describe.each(PROFILES)('a question without a conversation on %s', (_name, profile) => {
  it.each(NO_THREAD)('JSON, chat_thread_id %s: a new thread, named in the answer', async (_how, thread) => {
    const session = await loggedIn(profile)
    const threadsBefore = session.context.sim.state.threads.size
    const response = await session.context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie: session.cookie }, payload: { user_query: QUESTION, ...thread } })
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json()
    expect(body.data.answer).toContain(QUESTION)
    expect(session.apiCalls()).toEqual(expectedCalls(profile, false))
    expectNewThread(session, profile, answerThreadId(profile, body), threadsBefore)
  })

  it.each(NO_THREAD)('event stream, chat_thread_id %s: a new thread, named in the stream', async (_how, thread) => {
    const session = await loggedIn(profile)
    const threadsBefore = session.context.sim.state.threads.size
    const response = await session.context.app.inject({
      method: 'POST',
      url: '/api/agents/1/responses',
      headers: { cookie: session.cookie, accept: 'text/event-stream' },
      payload: { user_query: QUESTION, ...thread }
    })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/)
    expect(response.body).not.toContain('upstream_stream_failed')
    expect(session.apiCalls()).toEqual(expectedCalls(profile, true))
    expectNewThread(session, profile, streamThreadId(response.body), threadsBefore)
  })

  it('two questions without a thread are two conversations', async () => {
    const session = await loggedIn(profile)
    const ids = []
    for (let index = 0; index < 2; index++) {
      const response = await session.context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie: session.cookie }, payload: { user_query: QUESTION, chat_thread_id: null } })
      expect(response.statusCode, response.body).toBe(200)
      ids.push(answerThreadId(profile, response.json()))
    }
    expect(new Set(ids).size).toBe(2)
  })

  it('a question in a thread the BFF made goes on in that thread, without another', async () => {
    const session = await loggedIn(profile)
    const first = await session.context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie: session.cookie }, payload: { user_query: QUESTION } })
    const threadId = answerThreadId(profile, first.json())
    const calls = session.apiCalls().length
    const second = await session.context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie: session.cookie }, payload: { user_query: 'And then?', chat_thread_id: threadId } })
    expect(second.statusCode, second.body).toBe(200)
    expect(answerThreadId(profile, second.json())).toBe(threadId)
    expect(session.apiCalls().slice(calls)).toEqual([`POST ${profile.paths.api.response('1')}`])
  })

  it('an Ejento token the upstream refuses is refreshed once, and the question still starts one thread', async () => {
    const session = await loggedIn(profile)
    const threadsBefore = session.context.sim.state.threads.size
    session.context.sim.expireTokens('ejento')
    const response = await session.context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie: session.cookie }, payload: { user_query: QUESTION, chat_thread_id: null } })
    expect(response.statusCode, response.body).toBe(200)
    expect(session.context.sim.counter('refresh')).toBe(1)
    expect(session.context.sim.state.threads.size).toBe(threadsBefore + 1)
    expect(session.context.sim.state.threads.has(Number(answerThreadId(profile, response.json())))).toBe(true)
  })

  it('an Ejento token about to expire is refreshed before the calls, once', async () => {
    // Two seconds to live (whole seconds in `exp`): within the skew (half the lifetime at most) after one.
    const session = await loggedIn({ ...profile, sim: { ...profile.sim, ejentoTokenTtl: 2 } })
    await sleep(1100)
    const response = await session.context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie: session.cookie }, payload: { user_query: QUESTION } })
    expect(response.statusCode, response.body).toBe(200)
    expect(session.context.sim.counter('refresh')).toBe(1)
    // Fresh tokens from the start: no call was refused.
    expect(session.apiCalls()).toEqual(expectedCalls(profile, false))
    expect(session.context.sim.counter('ejento_token_rejected')).toBe(0)
  })
})

// Only where the BFF makes the thread itself: a refused or failed creation is the answer, and nothing is asked.
describe.each(PROFILES.filter(([, profile]) => !profile.paths.api.responseCreatesThread))('a thread the BFF cannot make on %s', (_name, profile) => {
  const chatThread = exactPath(profile.paths.api.chatThread('1'))

  it.each([['JSON', {}], ['event stream', { accept: 'text/event-stream' }]])('%s: the upstream\'s refusal passes through and no question is asked', async (_kind, headers) => {
    const session = await loggedIn(profile)
    const response = await session.context.app.inject({ method: 'POST', url: '/api/agents/42/responses', headers: { cookie: session.cookie, ...headers }, payload: { user_query: QUESTION, chat_thread_id: null } })
    expect(response.statusCode).toBe(404)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    expect(response.json()).toEqual({ success: false, message: 'Agent not found' })
    expect(session.apiCalls()).toEqual([`POST ${profile.paths.api.chatThread('42')}`])
  })

  it('an upstream failure is 502 upstream_error and no question is asked', async () => {
    const session = await loggedIn(profile)
    session.context.sim.inject({ upstream: 'api', path: chatThread, status: 500, body: 'Traceback (most recent call last): ...' })
    const response = await session.context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie: session.cookie, accept: 'text/event-stream' }, payload: { user_query: QUESTION } })
    expect(response.statusCode).toBe(502)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(response.json()).toMatchObject({ status: 502, code: 'upstream_error' })
    expect(response.body).not.toContain('Traceback')
    expect(session.apiCalls()).toEqual([`POST ${profile.paths.api.chatThread('1')}`])
  })

  it.each([
    ['without an id', { success: true, data: {} }],
    ['with an id that could move a path', { success: true, data: { id: '../1' } }],
    ['that is not an object', [1, 2]]
  ])('a created thread %s is 502 upstream_invalid_response and no question is asked', async (_what, body) => {
    const session = await loggedIn(profile)
    session.context.sim.inject({ upstream: 'api', path: chatThread, status: 201, body })
    const response = await session.context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie: session.cookie }, payload: { user_query: QUESTION } })
    expect(response.statusCode).toBe(502)
    expect(response.json()).toMatchObject({ status: 502, code: 'upstream_invalid_response' })
    expect(session.apiCalls()).toEqual([`POST ${profile.paths.api.chatThread('1')}`])
  })
})
