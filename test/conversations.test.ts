import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import type { RecordedRequest } from '../src/simulator/index.js'
import { ADMIN, DEMO, login, setup, sleep } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { PROFILES, answerThreadId } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE'

interface Call {
  method: Method
  url: string
  payload?: Record<string, unknown>
}

/** The five conversation routes, on a thread and an answer. */
function conversationCalls (threadId: unknown, responseId: unknown): Record<string, Call> {
  return {
    list: { method: 'GET', url: '/api/agents/1/chat-threads' },
    history: { method: 'GET', url: `/api/chat-threads/${String(threadId)}/responses` },
    rename: { method: 'PATCH', url: `/api/chat-threads/${String(threadId)}`, payload: { title: 'Renamed' } },
    feedback: { method: 'POST', url: `/api/responses/${String(responseId)}/feedback`, payload: { vote_type: 'upvote' } },
    // Last: it ends the thread the others use.
    delete: { method: 'DELETE', url: `/api/chat-threads/${String(threadId)}` }
  }
}

/** Where the profile's upstream has every conversation call. */
function hasConversations (profile: TestProfile): boolean {
  const { chatThreads, threadResponses, thread, threadRenameMethod, feedback } = profile.paths.api
  return chatThreads !== undefined && threadResponses !== undefined && thread !== undefined && threadRenameMethod !== undefined && feedback !== undefined
}

interface Session {
  profile: TestProfile
  context: TestContext
  cookie: string
  send: (call: Call, cookie?: string) => Promise<LightMyRequestResponse>
  /** The upstream calls since `mark()` (log-in, by default), as `upstream METHOD /path?query`. */
  calls: () => string[]
  records: () => RecordedRequest[]
  mark: () => void
}

async function loggedIn (profile: TestProfile): Promise<Session> {
  const context = await setup({ profile })
  const cookie = await login(context)
  let before = context.sim.requests.length
  const records = (): RecordedRequest[] => context.sim.requests.slice(before)
  return {
    profile,
    context,
    cookie,
    send: async (call, as = cookie) => await context.app.inject({ method: call.method, url: call.url, headers: { cookie: as }, ...(call.payload === undefined ? {} : { payload: call.payload }) }),
    records,
    calls: () => records().map((request) => `${request.upstream} ${request.method} ${request.url}`),
    mark: () => { before = context.sim.requests.length }
  }
}

/** Asks agent 1 through the BFF; answers the thread and the agent response the answer names. */
async function ask (session: Session, question: string, threadId: unknown = null, cookie = session.cookie): Promise<{ threadId: unknown, responseId: unknown }> {
  const response = await session.send({ method: 'POST', url: '/api/agents/1/responses', payload: { user_query: question, chat_thread_id: threadId } }, cookie)
  expect(response.statusCode, response.body).toBe(200)
  const body = response.json()
  return { threadId: answerThreadId(session.profile, body), responseId: body.data.agent_response_id }
}

/** The `typ` claim of the simulator JWT an upstream call carried. */
function tokenKind (request: RecordedRequest | undefined): unknown {
  const token = /^Bearer (\S+)$/.exec(String(request?.headers.authorization))?.[1] ?? ''
  return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { typ?: unknown }).typ
}

describe.each(PROFILES.filter(([, profile]) => hasConversations(profile)))('conversations on %s', (_name, profile) => {
  const api = profile.paths.api

  it('lists the user\'s conversations with an agent, newest first, named after their first question', async () => {
    const session = await loggedIn(profile)
    const first = await ask(session, 'What is a conversation?')
    await sleep(5)
    const second = await ask(session, 'How are threads named?')
    await sleep(5)
    await ask(session, 'And a follow-up?', first.threadId)
    // Someone else's conversation is not in the list.
    const admin = await login(session.context, ADMIN)
    await ask(session, 'An admin question', null, admin)
    session.mark()

    const response = await session.send({ method: 'GET', url: '/api/agents/1/chat-threads' })
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json()
    expect(body.success).toBe(true)
    expect(body.data.chat_threads.map((thread: { id: unknown, title: unknown }) => [thread.id, thread.title])).toEqual([
      [first.threadId, 'What is a conversation?'],
      [second.threadId, 'How are threads named?']
    ])
    expect(session.calls()).toEqual([`api GET ${api.chatThreads?.('1') ?? ''}`])
    expect(tokenKind(session.records()[0])).toBe('ejento')
  })

  it('an agent the upstream does not know: its 404 passes through', async () => {
    const session = await loggedIn(profile)
    const response = await session.send({ method: 'GET', url: '/api/agents/42/chat-threads' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ success: false, message: 'Agent not found' })
  })

  it('answers one conversation\'s questions and answers, oldest first', async () => {
    const session = await loggedIn(profile)
    const first = await ask(session, 'First question')
    const second = await ask(session, 'Second question', first.threadId)
    session.mark()

    const response = await session.send({ method: 'GET', url: `/api/chat-threads/${String(first.threadId)}/responses` })
    expect(response.statusCode, response.body).toBe(200)
    const responses = response.json().data.agent_responses as Array<{ id: unknown, question: string, response: { answer: string }, feedback: unknown[] }>
    expect(responses.map((entry) => [entry.id, entry.question])).toEqual([[first.responseId, 'First question'], [second.responseId, 'Second question']])
    expect(responses[0]?.response.answer).toContain('First question')
    expect(responses[0]?.feedback).toEqual([])
    expect(session.calls()).toEqual([`api GET ${api.threadResponses?.(String(first.threadId)) ?? ''}`])
  })

  it('renames a conversation with the profile\'s method, sending only the title', async () => {
    const session = await loggedIn(profile)
    const { threadId } = await ask(session, 'A question to rename')
    session.mark()

    const response = await session.send({ method: 'PATCH', url: `/api/chat-threads/${String(threadId)}`, payload: { title: 'Better title' } })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ success: true, data: { id: threadId, title: 'Better title' } })
    expect(session.calls()).toEqual([`api ${api.threadRenameMethod ?? ''} ${api.thread?.(String(threadId)) ?? ''}`])
    expect(JSON.parse(session.records()[0]?.body.toString('utf8') ?? '')).toEqual({ title: 'Better title' })

    const list = await session.send({ method: 'GET', url: '/api/agents/1/chat-threads' })
    expect(list.json().data.chat_threads[0]).toMatchObject({ id: threadId, title: 'Better title' })
  })

  it.each([
    ['no title', {}],
    ['an empty title', { title: '' }],
    ['a title of 256 characters', { title: 'a'.repeat(256) }],
    ['a title that is an object', { title: { text: 'Mine' } }],
    ['another field', { title: 'Fine', agent: 2 }]
  ])('refuses a rename with %s: 400, nothing sent upstream', async (_what, payload) => {
    const session = await loggedIn(profile)
    const { threadId } = await ask(session, 'A question')
    session.mark()
    const response = await session.send({ method: 'PATCH', url: `/api/chat-threads/${String(threadId)}`, payload })
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('validation_failed')
    expect(session.calls()).toEqual([])
  })

  it('a title of 255 characters is fine', async () => {
    const session = await loggedIn(profile)
    const { threadId } = await ask(session, 'A question')
    const response = await session.send({ method: 'PATCH', url: `/api/chat-threads/${String(threadId)}`, payload: { title: 'a'.repeat(255) } })
    expect(response.statusCode, response.body).toBe(200)
  })

  it('deletes a conversation: the upstream\'s answer and status pass through, and it is gone', async () => {
    const session = await loggedIn(profile)
    const kept = await ask(session, 'Kept')
    const gone = await ask(session, 'Deleted')
    session.mark()

    const response = await session.send({ method: 'DELETE', url: `/api/chat-threads/${String(gone.threadId)}` })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ success: true })
    expect(session.calls()).toEqual([`api DELETE ${api.thread?.(String(gone.threadId)) ?? ''}`])

    const list = await session.send({ method: 'GET', url: '/api/agents/1/chat-threads' })
    expect(list.json().data.chat_threads.map((thread: { id: unknown }) => thread.id)).toEqual([kept.threadId])
    const history = await session.send({ method: 'GET', url: `/api/chat-threads/${String(gone.threadId)}/responses` })
    expect(history.statusCode).toBe(404)
    expect(history.json()).toEqual({ success: false, message: 'Chat thread not found' })
  })

  it('votes on an answer: the vote is the upstream\'s answer and shows in the history; a new vote replaces it', async () => {
    const session = await loggedIn(profile)
    const { threadId, responseId } = await ask(session, 'Was this helpful?')
    session.mark()

    const up = await session.send({ method: 'POST', url: `/api/responses/${String(responseId)}/feedback`, payload: { vote_type: 'upvote' } })
    expect(up.statusCode, up.body).toBe(201)
    expect(up.json()).toMatchObject({ success: true, data: { vote_type: 'upvote' } })
    expect(session.calls()).toEqual([`api POST ${api.feedback?.(String(responseId)) ?? ''}`])
    expect(JSON.parse(session.records()[0]?.body.toString('utf8') ?? '')).toEqual({ vote_type: 'upvote' })

    const down = await session.send({ method: 'POST', url: `/api/responses/${String(responseId)}/feedback`, payload: { vote_type: 'downvote' } })
    expect(down.statusCode, down.body).toBe(201)
    const history = await session.send({ method: 'GET', url: `/api/chat-threads/${String(threadId)}/responses` })
    expect(history.json().data.agent_responses[0].feedback).toEqual([{ vote_type: 'downvote' }])
  })

  it('a vote the upstream does not know is its refusal (it decides the vocabulary)', async () => {
    const session = await loggedIn(profile)
    const { responseId } = await ask(session, 'A question')
    const response = await session.send({ method: 'POST', url: `/api/responses/${String(responseId)}/feedback`, payload: { vote_type: 'sideways' } })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({ success: false })
  })

  it.each([
    ['no vote', {}],
    ['an empty vote', { vote_type: '' }],
    ['capitals and a hyphen', { vote_type: 'Up-Vote' }],
    ['33 letters', { vote_type: 'a'.repeat(33) }],
    ['a number', { vote_type: 1 }],
    ['another field', { vote_type: 'upvote', comment: 'great' }]
  ])('refuses a vote with %s: 400, nothing sent upstream', async (_what, payload) => {
    const session = await loggedIn(profile)
    const { responseId } = await ask(session, 'A question')
    session.mark()
    const response = await session.send({ method: 'POST', url: `/api/responses/${String(responseId)}/feedback`, payload })
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('validation_failed')
    expect(session.calls()).toEqual([])
  })

  it('another user\'s conversation and answer are the upstream\'s 404, passed through, and stay untouched', async () => {
    const session = await loggedIn(profile)
    const admin = await login(session.context, ADMIN)
    const theirs = await ask(session, 'An admin secret', null, admin)
    const calls = conversationCalls(theirs.threadId, theirs.responseId)
    for (const name of ['history', 'rename', 'feedback', 'delete'] as const) {
      const response = await session.send(calls[name] as Call)
      expect(response.statusCode, name).toBe(404)
      expect(response.headers['content-type'], name).toMatch(/^application\/json/)
      expect(response.json(), name).toMatchObject({ success: false, message: expect.any(String) })
      expect(response.body, name).not.toContain('An admin secret')
    }
    const history = await session.send(calls.history as Call, admin)
    expect(history.statusCode).toBe(200)
    expect(history.json().data.agent_responses).toMatchObject([{ question: 'An admin secret', feedback: [] }])
    const list = await session.send(calls.list as Call, admin)
    expect(list.json().data.chat_threads).toMatchObject([{ id: theirs.threadId, title: 'An admin secret' }])
  })

  it('an Ejento token the upstream refuses is refreshed once and the call retried, on every conversation route', async () => {
    const session = await loggedIn(profile)
    const { threadId, responseId } = await ask(session, 'A question')
    let refreshes = 0
    for (const [name, call] of Object.entries(conversationCalls(threadId, responseId))) {
      session.context.sim.expireTokens('ejento')
      session.mark()
      const response = await session.send(call)
      expect(response.statusCode, `${name}: ${response.body}`).toBeLessThan(300)
      expect(session.context.sim.counter('refresh'), name).toBe(++refreshes)
      // Refused, then retried with the fresh token: the same call twice.
      const upstream = session.records().filter((request) => request.upstream === 'api')
      expect(upstream, name).toHaveLength(2)
      expect(upstream[1]?.url, name).toBe(upstream[0]?.url)
    }
  })

  it('creating a thread tells the upstream the agent and the creator, under the browser\'s own fields', async () => {
    const session = await loggedIn(profile)
    session.mark()
    const plain = await session.send({ method: 'POST', url: '/api/agents/1/chat-threads' })
    expect(plain.statusCode, plain.body).toBe(201)
    expect(plain.json()).toMatchObject({ success: true, data: { agent: 1, created_by: DEMO.email } })
    const withTitle = await session.send({ method: 'POST', url: '/api/agents/1/chat-threads', payload: { title: 'Mine' } })
    expect(withTitle.statusCode, withTitle.body).toBe(201)
    const sent = session.records().filter((request) => request.upstream === 'api').map((request) => JSON.parse(request.body.toString('utf8')) as unknown)
    expect(sent).toEqual([{ agent: 1, created_by: DEMO.email }, { agent: 1, created_by: DEMO.email, title: 'Mine' }])
  })
})

describe.each(PROFILES.filter(([, profile]) => !hasConversations(profile)))('conversations on %s, whose upstream has none', (_name, profile) => {
  it.each(Object.entries(conversationCalls(1, 1)))('%s: 501 not_supported, and nothing is sent upstream', async (_route, call) => {
    const session = await loggedIn(profile)
    const response = await session.send(call)
    expect(response.statusCode).toBe(501)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(response.json()).toMatchObject({ type: 'about:blank', status: 501, code: 'not_supported', title: 'Error' })
    expect(response.json().detail).toContain(`"${profile.name}"`)
    expect(session.calls()).toEqual([])
  })

  it('creating a thread sends the browser\'s body as it is', async () => {
    const session = await loggedIn(profile)
    const response = await session.send({ method: 'POST', url: '/api/agents/1/chat-threads', payload: { title: 'Mine' } })
    expect(response.statusCode, response.body).toBe(201)
    expect(session.records().map((request) => JSON.parse(request.body.toString('utf8')) as unknown)).toEqual([{ title: 'Mine' }])
  })
})

describe.each(PROFILES)('conversation routes on %s', (_name, profile) => {
  it.each(Object.entries(conversationCalls(1, 1)))('%s without a session: 401 not_authenticated, nothing sent upstream', async (_route, call) => {
    const session = await loggedIn(profile)
    const response = await session.send(call, '')
    expect(response.statusCode).toBe(401)
    expect(response.json().code).toBe('not_authenticated')
    expect(session.calls()).toEqual([])
  })

  it.each(Object.entries(conversationCalls('1%2F..', 'a%20b')))('%s with an unsafe id: 400 validation_failed, nothing sent upstream', async (route, call) => {
    const session = await loggedIn(profile)
    // The list names an agent: its id is the unsafe one here.
    const response = await session.send(route === 'list' ? { ...call, url: '/api/agents/1%2F../chat-threads' } : call)
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('validation_failed')
    expect(session.calls()).toEqual([])
  })
})
