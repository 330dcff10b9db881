import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../src/simulator/index.js'
import { ADMIN, DEMO, onCleanup } from './helpers/app.js'
import { startDemoPrinting } from './helpers/processes.js'

/** The simulator playing hosted Ejento's v2 API, over real HTTP, as the design's "Upstream facts for v2" describe it. */

const KEY = 'v2-test-subscription-key'
const AUTH = '/auth-service/api/v2'
const KEY_REFUSAL = { statusCode: 401, message: 'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.' }

async function simulator (options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator({ profile: 'v2', subscriptionKey: KEY, streamIntervalMs: 1, ...options })
  onCleanup(sim.close)
  return sim
}

interface Answer {
  status: number
  headers: Headers
  text: string
  json: () => any
}

/** A call through the gateway: the subscription key is sent unless `key` is false. */
async function call (url: string, init: RequestInit & { token?: string, json?: unknown, key?: boolean } = {}): Promise<Answer> {
  const { token, json, key = true, ...rest } = init
  const headers: Record<string, string> = { ...(rest.headers as Record<string, string> | undefined) }
  if (key) headers['ocp-apim-subscription-key'] = KEY
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (json !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(url, { ...rest, headers, ...(json === undefined ? {} : { body: JSON.stringify(json) }) })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) }
}

async function logIn (sim: Simulator, credentials = DEMO): Promise<Answer> {
  return await call(`${sim.authUrl}${AUTH}/login/access-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: credentials.email, password: credentials.password }).toString()
  })
}

async function tokens (sim: Simulator, credentials = DEMO): Promise<{ access_token: string, ejento_access_token: string }> {
  const answer = await logIn(sim, credentials)
  expect(answer.status).toBe(200)
  return answer.json().data
}

async function ask (sim: Simulator, token: string, body: Record<string, unknown>, agentId = 1): Promise<Answer> {
  return await call(`${sim.apiUrl}/response-service/api/v2/agents/${agentId}/responses`, { method: 'POST', token, json: body })
}

async function askStreamed (sim: Simulator, token: string, body: Record<string, unknown>): Promise<Answer> {
  return await call(`${sim.apiUrl}/response-service/api/v2/agents/1/responses/stream`, { method: 'POST', token, json: body })
}

/** The `data:` lines of a v2 stream, parsed; fails on anything else (v2 streams have no `event:` lines). */
function steps (text: string): Array<Record<string, any>> {
  const blocks = text.split('\n\n').filter((block) => block !== '')
  return blocks.map((block) => {
    expect(block).toMatch(/^data: [^\n]+$/)
    return JSON.parse(block.slice('data: '.length))
  })
}

async function newThread (sim: Simulator, token: string, agentId = 1): Promise<Answer> {
  return await call(`${sim.apiUrl}/api/v2/agents/${agentId}/chat-threads`, { method: 'POST', token, json: { agent: agentId, created_by: DEMO.email } })
}

async function threads (sim: Simulator, token: string, agentId = 1): Promise<Array<Record<string, any>>> {
  const answer = await call(`${sim.apiUrl}/api/v2/agents/${agentId}/chat-threads?query_source=app-ejento`, { token })
  expect(answer.status).toBe(200)
  return answer.json().data.chat_threads
}

async function history (sim: Simulator, token: string, threadId: number): Promise<Answer> {
  return await call(`${sim.apiUrl}/api/v2/chat-threads/${threadId}/agent-responses?include_steps=true`, { token })
}

async function startPasswordless (sim: Simulator, body: Record<string, unknown>): Promise<Answer> {
  return await call(`${sim.authUrl}${AUTH}/users/passwordless-auth`, { method: 'POST', json: body })
}

async function verifyOtp (sim: Simulator, otpSessionId: string, code: string): Promise<Answer> {
  return await call(`${sim.authUrl}${AUTH}/users/verify-otp`, { method: 'POST', json: { otp_session_id: otpSessionId, code } })
}

/** Any code but this one. */
function wrongCode (code: string): string {
  return code === '000000' ? '111111' : '000000'
}

describe('simulator v2: the gateway subscription key', () => {
  it('refuses every call without the key or with a wrong one, on both servers, before any handler runs', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    const calls: Array<[string, RequestInit & { token?: string }]> = [
      [`${sim.authUrl}${AUTH}/login/access-token`, { method: 'POST' }],
      [`${sim.authUrl}${AUTH}/users/refresh-access-token`, { method: 'POST', token: pair.access_token }],
      [`${sim.authUrl}${AUTH}/users/passwordless-auth`, { method: 'POST' }],
      [`${sim.authUrl}${AUTH}/feature-flags/logins`, {}],
      [`${sim.authUrl}${AUTH}/no-such-path`, {}],
      [`${sim.apiUrl}/api/v2/users/me`, { token: pair.ejento_access_token }],
      [`${sim.apiUrl}/api/v2/agents`, { token: pair.ejento_access_token }],
      [`${sim.apiUrl}/response-service/api/v2/agents/1/responses/stream`, { method: 'POST', token: pair.ejento_access_token }]
    ]
    for (const [url, init] of calls) {
      for (const headers of [{}, { 'ocp-apim-subscription-key': 'wrong-key' }] as Array<Record<string, string>>) {
        const answer = await call(url, { ...init, headers, key: false })
        expect(answer.status, url).toBe(401)
        expect(answer.json()).toEqual(KEY_REFUSAL)
      }
    }
    expect(sim.counter('subscription_key_rejected')).toBe(calls.length * 2)
    expect(sim.counter('refresh')).toBe(0)
    expect((await call(`${sim.apiUrl}/api/v2/users/me`, { token: pair.ejento_access_token })).status).toBe(200)
  })

  it('lets the SSO log-in navigation through without it (a browser cannot send the header)', async () => {
    const sim = await simulator()
    const answer = await call(`${sim.authUrl}${AUTH}/sso/google/login?next=${encodeURIComponent('http://bff.test/cb')}`, { key: false, redirect: 'manual' })
    expect(answer.status).toBe(302)
  })

  it("does not answer the guide's paths", async () => {
    const sim = await simulator()
    const guideLogin = await call(`${sim.authUrl}/api/login/access-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: DEMO.email, password: DEMO.password }).toString()
    })
    expect(guideLogin.status).toBe(404)
    expect(guideLogin.json()).toEqual({ detail: 'Not Found' })
    const pair = await tokens(sim)
    const guideThread = await call(`${sim.apiUrl}/api/agent/1/chat-thread`, { method: 'POST', token: pair.ejento_access_token })
    expect(guideThread.status).toBe(404)
    expect(guideThread.json()).toEqual({ success: false, message: 'Not found' })
  })
})

describe('simulator v2: log-in and refresh', () => {
  it('answers a password log-in with both tokens in an envelope', async () => {
    const sim = await simulator()
    const answer = await logIn(sim)
    expect(answer.status).toBe(200)
    const body = answer.json()
    expect(Object.keys(body).sort()).toEqual(['data', 'message', 'success'])
    expect(body.success).toBe(true)
    expect(Object.keys(body.data).sort()).toEqual(['access_token', 'ejento_access_token'])
    expect(sim.state.issuedTokens).toEqual([body.data.access_token, body.data.ejento_access_token])
  })

  it('refuses a wrong password and a missing field FastAPI style', async () => {
    const sim = await simulator()
    const wrong = await logIn(sim, { email: DEMO.email, password: 'not-the-password' })
    expect(wrong.status).toBe(400)
    expect(wrong.json()).toEqual({ detail: 'Incorrect email or password' })
    const missing = await call(`${sim.authUrl}${AUTH}/login/access-token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=x' })
    expect(missing.status).toBe(422)
    expect(missing.json().detail[0]).toMatchObject({ type: 'missing', loc: ['body', 'password'] })
  })

  it('refreshes into a new envelope, and strict rotation kills the token it was called with', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    const refresh = async (token: string): Promise<Answer> => await call(`${sim.authUrl}${AUTH}/users/refresh-access-token`, { method: 'POST', token })
    const first = await refresh(pair.access_token)
    expect(first.status).toBe(200)
    expect(first.json()).toMatchObject({ success: true, message: expect.any(String), data: { access_token: expect.any(String), ejento_access_token: expect.any(String) } })
    const fresh = first.json().data
    expect(fresh.access_token).not.toBe(pair.access_token)
    const again = await refresh(pair.access_token)
    expect(again.status).toBe(403)
    expect(again.json()).toEqual({ detail: 'Could not validate credentials' })
    expect((await refresh(fresh.access_token)).status).toBe(200)
    // The Ejento token is no refresh token.
    expect((await refresh(pair.ejento_access_token)).status).toBe(403)
  })

  it('allows a second refresh with the same token without strict rotation', async () => {
    const sim = await simulator({ strictRotation: false })
    const pair = await tokens(sim)
    for (let round = 0; round < 2; round++) {
      expect((await call(`${sim.authUrl}${AUTH}/users/refresh-access-token`, { method: 'POST', token: pair.access_token })).status).toBe(200)
    }
  })

  it("keeps the guide's user routes under the prefix", async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    const users = await call(`${sim.authUrl}${AUTH}/users/?skip=0&limit=1`, { token: pair.access_token })
    expect(users.status).toBe(200)
    expect(users.json()).toMatchObject({ count: 2, data: [{ email: DEMO.email }] })
    const password = await call(`${sim.authUrl}${AUTH}/users/me/password`, { method: 'PATCH', token: pair.access_token, json: { current_password: DEMO.password, new_password: 'brand-new-password' } })
    expect(password.json()).toEqual({ message: 'Password updated successfully' })
    expect((await logIn(sim, { email: DEMO.email, password: 'brand-new-password' })).status).toBe(200)
  })
})

describe('simulator v2: who am I and agents', () => {
  it('answers users/me with the full name split in two', async () => {
    const sim = await simulator()
    const answer = await call(`${sim.apiUrl}/api/v2/users/me`, { token: (await tokens(sim)).ejento_access_token })
    expect(answer.status).toBe(200)
    expect(answer.json()).toMatchObject({
      success: true,
      data: { first_name: 'Demo', last_name: 'User', full_name: 'Demo User', email: DEMO.email, is_staff: false, is_superuser: false }
    })
    sim.state.addUser({ email: 'nameless@example.com', password: 'nameless-password' })
    sim.state.addUser({ email: 'three@example.com', password: 'three-password', full_name: 'Ada  Lovelace King' })
    const nameless = await call(`${sim.apiUrl}/api/v2/users/me`, { token: (await tokens(sim, { email: 'nameless@example.com', password: 'nameless-password' })).ejento_access_token })
    expect(nameless.json().data).toMatchObject({ first_name: '', last_name: '', full_name: null })
    const three = await call(`${sim.apiUrl}/api/v2/users/me`, { token: (await tokens(sim, { email: 'three@example.com', password: 'three-password' })).ejento_access_token })
    expect(three.json().data).toMatchObject({ first_name: 'Ada', last_name: 'Lovelace King' })
  })

  it('answers 401 {success:false} to a bad, an auth-app or an expired token', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    for (const token of ['not-a-token', pair.access_token]) {
      const answer = await call(`${sim.apiUrl}/api/v2/users/me`, { token })
      expect(answer.status).toBe(401)
      expect(answer.json()).toEqual({ success: false, message: expect.any(String) })
    }
    sim.expireTokens('ejento')
    expect((await call(`${sim.apiUrl}/api/v2/agents`, { token: pair.ejento_access_token })).status).toBe(401)
  })

  it('lists the agents', async () => {
    const sim = await simulator()
    const answer = await call(`${sim.apiUrl}/api/v2/agents`, { token: (await tokens(sim)).ejento_access_token })
    expect(answer.status).toBe(200)
    expect(answer.json()).toMatchObject({ success: true, data: [{ id: 1, name: 'Demo Agent', description: expect.any(String) }, { id: 2 }] })
  })
})

describe('simulator v2: chat threads and answers', () => {
  it('creates a thread: 201 {id, title, agent, created_by, created_at}', async () => {
    const sim = await simulator()
    const answer = await newThread(sim, (await tokens(sim)).ejento_access_token)
    expect(answer.status).toBe(201)
    expect(answer.json()).toEqual({
      success: true,
      message: expect.any(String),
      data: { id: expect.any(Number), title: 'New chat', agent: 1, created_by: DEMO.email, created_at: expect.any(String) }
    })
    expect((await newThread(sim, (await tokens(sim)).ejento_access_token, 999)).status).toBe(404)
  })

  it('answers as JSON; chat_thread_id null (or absent) starts a thread named after the question', async () => {
    const sim = await simulator()
    const { ejento_access_token: token } = await tokens(sim)
    const long = '  What   is Ejento, and how does it answer questions about my documents?  '
    const first = await ask(sim, token, { user_query: long, chat_thread_id: null, history: [], query_source: 'app-ejento', overrides: {}, caching_enabled: false })
    expect(first.status).toBe(200)
    const body = first.json()
    expect(body).toEqual({
      success: true,
      message: expect.any(String),
      data: {
        answer: expect.stringContaining('What   is Ejento'),
        references: [{ number: 1, url: expect.any(String), order: 1 }],
        followup_questions: expect.any(Array),
        thread_id: expect.any(Number),
        chat_thread_name: 'What is Ejento, and how does it answer q',
        agent_response_id: expect.any(Number)
      }
    })
    expect(body.data.chat_thread_name.length).toBeLessThanOrEqual(40)
    const absent = (await ask(sim, token, { user_query: 'Short one' })).json().data
    expect(absent.chat_thread_name).toBe('Short one')
    expect(absent.thread_id).not.toBe(body.data.thread_id)
    // Asked again in the same thread: the thread keeps its name and gains the answer.
    const followUp = (await ask(sim, token, { user_query: 'And then?', chat_thread_id: body.data.thread_id })).json().data
    expect(followUp).toMatchObject({ thread_id: body.data.thread_id, chat_thread_name: body.data.chat_thread_name })
    const listed = (await history(sim, token, body.data.thread_id)).json().data.agent_responses
    expect(listed.map((response: { question: string }) => response.question)).toEqual([long.trim(), 'And then?'])
  })

  it('names a thread created empty after its first question', async () => {
    const sim = await simulator()
    const { ejento_access_token: token } = await tokens(sim)
    const thread = (await newThread(sim, token)).json().data.id
    expect((await ask(sim, token, { user_query: 'First question', chat_thread_id: thread })).json().data.chat_thread_name).toBe('First question')
    expect((await ask(sim, token, { user_query: 'Second question', chat_thread_id: thread })).json().data.chat_thread_name).toBe('First question')
  })

  it("refuses another user's thread, another agent's thread, a bad thread id and a missing question", async () => {
    const sim = await simulator()
    const demo = (await tokens(sim)).ejento_access_token
    const admin = (await tokens(sim, ADMIN)).ejento_access_token
    const thread = (await newThread(sim, demo)).json().data.id
    expect((await ask(sim, admin, { user_query: 'Hi', chat_thread_id: thread })).status).toBe(404)
    expect((await ask(sim, demo, { user_query: 'Hi', chat_thread_id: thread }, 2)).status).toBe(404)
    expect((await ask(sim, demo, { user_query: 'Hi', chat_thread_id: { id: thread } })).status).toBe(422)
    const empty = await ask(sim, demo, { user_query: '  ', chat_thread_id: thread })
    expect(empty.status).toBe(422)
    expect(empty.json()).toEqual({ success: false, message: expect.any(String) })
    expect(sim.state.threads.get(thread)?.responses).toEqual([])
  })

  it('streams data: lines switched on step: tools_stream deltas, reflection_end, assistant_stream words, end', async () => {
    const sim = await simulator({ streamIntervalMs: 15 })
    const { ejento_access_token: token } = await tokens(sim)
    const answer = await askStreamed(sim, token, { user_query: 'Stream please', chat_thread_id: null })
    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-type')).toContain('text/event-stream')
    expect(answer.text).not.toMatch(/^event:/m)
    const events = steps(answer.text)
    const kinds = events.map((event) => event.step)
    const reflection = kinds.indexOf('reflection_end')
    expect(reflection).toBeGreaterThan(0)
    expect(kinds.slice(0, reflection).every((kind) => kind === 'tools_stream')).toBe(true)
    expect(kinds.slice(reflection + 1, -1).length).toBeGreaterThan(3)
    expect(kinds.slice(reflection + 1, -1).every((kind) => kind === 'assistant_stream')).toBe(true)
    expect(kinds.at(-1)).toBe('end')
    for (const event of events.filter((candidate) => candidate.step.endsWith('_stream'))) expect(Object.keys(event).sort()).toEqual(['delta', 'step'])
    expect(events[reflection]).toEqual({ step: 'reflection_end', message: expect.any(String) })

    const end = events.at(-1) as Record<string, any>
    expect(end).toEqual({
      step: 'end',
      success: true,
      output: {
        answer: expect.any(String),
        references: [{ number: 1, url: expect.any(String), order: 1 }],
        followup_questions: expect.any(Array),
        thread_id: expect.any(Number),
        chat_thread_name: 'Stream please',
        agent_response_id: expect.any(Number),
        guardrail_triggered: false,
        blocked: false
      }
    })
    const words = events.filter((event) => event.step === 'assistant_stream').map((event) => event.delta as string)
    expect(words.join('')).toBe(end.output.answer)
    expect(words.join('')).toContain('Stream please')

    // Paced at streamIntervalMs, and recorded event by event.
    const [recorded] = sim.requestsTo('api', /\/responses\/stream$/)
    expect(recorded?.events.map((event) => event.event)).toEqual(kinds)
    const times = recorded?.events.map((event) => event.at) ?? []
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(15 * (times.length - 1) * 0.8)
    expect(recorded?.completed).toBe(true)

    // The answer is kept with its thread.
    const kept = (await history(sim, token, end.output.thread_id)).json().data.agent_responses
    expect(kept).toEqual([{ id: end.output.agent_response_id, question: 'Stream please', response: { answer: end.output.answer, references: end.output.references, followup_questions: end.output.followup_questions }, feedback: [] }])
  })

  it('answers a stream request it cannot serve with a JSON error, not a stream', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    const badToken = await askStreamed(sim, pair.access_token, { user_query: 'Hi', chat_thread_id: null })
    expect(badToken.status).toBe(401)
    expect(badToken.headers.get('content-type')).toBe('application/json')
    const foreign = await askStreamed(sim, pair.ejento_access_token, { user_query: 'Hi', chat_thread_id: 12345 })
    expect(foreign.status).toBe(404)
    expect(foreign.json()).toEqual({ success: false, message: 'Chat thread not found' })
  })
})

describe('simulator v2: conversations', () => {
  it('lists only the caller\'s threads of that agent, newest first', async () => {
    const sim = await simulator()
    const demo = (await tokens(sim)).ejento_access_token
    const admin = (await tokens(sim, ADMIN)).ejento_access_token
    const older = (await ask(sim, demo, { user_query: 'Older', chat_thread_id: null })).json().data.thread_id
    await new Promise((resolve) => setTimeout(resolve, 5))
    const newer = (await ask(sim, demo, { user_query: 'Newer', chat_thread_id: null })).json().data.thread_id
    await ask(sim, admin, { user_query: 'Admin thread', chat_thread_id: null })
    await newThread(sim, demo, 2)
    const listed = await threads(sim, demo)
    expect(listed.map((thread) => thread.id)).toEqual([newer, older])
    expect(listed[0]).toEqual({ id: newer, title: 'Newer', agent: 1, created_at: expect.any(String), updated_at: expect.any(String) })
    // A new answer in the older thread makes it the newest.
    await new Promise((resolve) => setTimeout(resolve, 5))
    await ask(sim, demo, { user_query: 'Back again', chat_thread_id: older })
    expect((await threads(sim, demo)).map((thread) => thread.id)).toEqual([older, newer])
    expect((await threads(sim, admin)).map((thread) => thread.title)).toEqual(['Admin thread'])
  })

  it("renames and deletes only the owner's thread; anyone else gets 404 as if it did not exist", async () => {
    const sim = await simulator()
    const demo = (await tokens(sim)).ejento_access_token
    const admin = (await tokens(sim, ADMIN)).ejento_access_token
    const asked = (await ask(sim, demo, { user_query: 'Mine', chat_thread_id: null })).json().data
    const url = `${sim.apiUrl}/api/v2/chat-threads/${asked.thread_id as number}`

    for (const answer of [
      await history(sim, admin, asked.thread_id),
      await call(url, { method: 'PUT', token: admin, json: { title: 'Stolen' } }),
      await call(url, { method: 'DELETE', token: admin })
    ]) {
      expect(answer.status).toBe(404)
      expect(answer.json()).toEqual({ success: false, message: expect.any(String) })
    }
    expect(sim.state.threads.get(asked.thread_id)?.title).toBe('Mine')

    for (const title of ['', 'x'.repeat(256), 42]) expect((await call(url, { method: 'PUT', token: demo, json: { title } })).status).toBe(422)
    const renamed = await call(url, { method: 'PUT', token: demo, json: { title: 'Renamed' } })
    expect(renamed.status).toBe(200)
    expect(renamed.json()).toMatchObject({ success: true, data: { id: asked.thread_id, title: 'Renamed', agent: 1 } })
    expect((await threads(sim, demo))[0]?.title).toBe('Renamed')

    const deleted = await call(url, { method: 'DELETE', token: demo })
    expect(deleted.status).toBe(200)
    expect(deleted.json()).toEqual({ success: true, message: expect.any(String) })
    expect(await threads(sim, demo)).toEqual([])
    expect((await history(sim, demo, asked.thread_id)).status).toBe(404)
    expect((await call(url, { method: 'DELETE', token: demo })).status).toBe(404)
    // Its answers went with it.
    expect(sim.state.agentResponses.has(asked.agent_response_id)).toBe(false)
  })

  it("takes an upvote or a downvote on the owner's answer, the newest replacing the older; anything else is 422", async () => {
    const sim = await simulator()
    const demo = (await tokens(sim)).ejento_access_token
    const admin = (await tokens(sim, ADMIN)).ejento_access_token
    const asked = (await ask(sim, demo, { user_query: 'Rate me', chat_thread_id: null })).json().data
    const vote = async (token: string, body: unknown, id = asked.agent_response_id as number): Promise<Answer> =>
      await call(`${sim.apiUrl}/api/v2/agent-responses/${id}/feedbacks`, { method: 'POST', token, json: body })

    for (const body of [{ vote_type: 'sideways' }, { vote_type: 'UPVOTE' }, {}, { vote_type: 1 }]) {
      const refused = await vote(demo, body)
      expect(refused.status).toBe(422)
      expect(refused.json()).toEqual({ success: false, message: expect.any(String) })
    }
    expect((await vote(admin, { vote_type: 'upvote' })).status).toBe(404)
    expect((await vote(demo, { vote_type: 'upvote' }, 999)).status).toBe(404)

    const up = await vote(demo, { vote_type: 'upvote' })
    expect(up.status).toBe(201)
    expect(up.json()).toEqual({ success: true, message: expect.any(String), data: { id: expect.any(Number), vote_type: 'upvote' } })
    expect((await history(sim, demo, asked.thread_id)).json().data.agent_responses[0].feedback).toEqual([{ vote_type: 'upvote' }])
    expect((await vote(demo, { vote_type: 'downvote' })).status).toBe(201)
    expect((await history(sim, demo, asked.thread_id)).json().data.agent_responses[0].feedback).toEqual([{ vote_type: 'downvote' }])
  })
})

describe('simulator v2: password-less log-in', () => {
  it('mails a 6-digit code; the code trades once for both tokens, which work', async () => {
    const sim = await simulator()
    const started = await startPasswordless(sim, { email: 'Demo@Example.com' })
    expect(started.status).toBe(200)
    expect(started.json()).toEqual({ success: true, message: 'Email sent', data: { otp_session_id: expect.any(String) } })
    const mail = sim.lastMail(DEMO.email)
    expect(mail).toEqual({ to: DEMO.email, code: expect.stringMatching(/^\d{6}$/), sentAt: expect.any(Number) })
    expect(sim.state.outbox).toEqual([mail])

    const verified = await verifyOtp(sim, started.json().data.otp_session_id, mail?.code as string)
    expect(verified.status).toBe(200)
    expect(verified.json()).toEqual({ success: true, message: expect.any(String), data: { access_token: expect.any(String), ejento_access_token: expect.any(String) } })
    const me = await call(`${sim.apiUrl}/api/v2/users/me`, { token: verified.json().data.ejento_access_token })
    expect(me.json().data.email).toBe(DEMO.email)
    // One-time.
    const again = await verifyOtp(sim, started.json().data.otp_session_id, mail?.code as string)
    expect(again.status).toBe(400)
    expect(again.json()).toEqual({ detail: 'Invalid or expired code' })
  })

  it('answers an unknown address exactly like a known one, and mails nothing', async () => {
    const sim = await simulator()
    const unknown = await startPasswordless(sim, { email: 'nobody@example.com' })
    const known = await startPasswordless(sim, { email: DEMO.email })
    expect(unknown.status).toBe(known.status)
    expect(Object.keys(unknown.json())).toEqual(Object.keys(known.json()))
    expect(unknown.json()).toEqual({ ...known.json(), data: { otp_session_id: expect.any(String) } })
    expect(sim.lastMail('nobody@example.com')).toBeUndefined()
    expect(sim.state.outbox.map((mail) => mail.to)).toEqual([DEMO.email])
    expect((await verifyOtp(sim, unknown.json().data.otp_session_id, '123456')).status).toBe(400)
  })

  it('refuses bad input with 422', async () => {
    const sim = await simulator()
    expect((await startPasswordless(sim, {})).status).toBe(422)
    expect((await startPasswordless(sim, { email: 'not-an-address' })).status).toBe(422)
    expect((await call(`${sim.authUrl}${AUTH}/users/verify-otp`, { method: 'POST', json: { code: '123456' } })).status).toBe(422)
    expect(sim.state.outbox).toEqual([])
  })

  it('refuses a wrong code; five wrong codes kill the log-in, even for the right code after', async () => {
    const sim = await simulator()
    const id = (await startPasswordless(sim, { email: DEMO.email })).json().data.otp_session_id
    const code = sim.lastMail(DEMO.email)?.code as string
    for (let attempt = 1; attempt <= 4; attempt++) {
      const wrong = await verifyOtp(sim, id, wrongCode(code))
      expect(wrong.status).toBe(400)
      expect(wrong.json()).toEqual({ detail: 'Invalid or expired code' })
    }
    // Four wrong tries leave it alive.
    const secondId = (await startPasswordless(sim, { email: DEMO.email })).json().data.otp_session_id
    expect((await verifyOtp(sim, id, code)).status).toBe(200)

    const secondCode = sim.lastMail(DEMO.email)?.code as string
    for (let attempt = 1; attempt <= 5; attempt++) expect((await verifyOtp(sim, secondId, wrongCode(secondCode))).status).toBe(400)
    expect((await verifyOtp(sim, secondId, secondCode)).status).toBe(400)
  })

  it('refuses an expired code', async () => {
    const sim = await simulator({ otpTtlMs: 100 })
    const id = (await startPasswordless(sim, { email: DEMO.email })).json().data.otp_session_id
    await new Promise((resolve) => setTimeout(resolve, 150))
    const expired = await verifyOtp(sim, id, sim.lastMail(DEMO.email)?.code as string)
    expect(expired.status).toBe(400)
    expect(expired.json()).toEqual({ detail: 'Invalid or expired code' })
  })

  it('mails a magic link to next with both tokens, keeping a query next already has', async () => {
    const sim = await simulator()
    await startPasswordless(sim, { email: DEMO.email, next: 'https://bff.test/auth/sso/callback?state=abc' })
    const link = new URL(sim.lastMail(DEMO.email)?.magicLink as string)
    expect(`${link.origin}${link.pathname}`).toBe('https://bff.test/auth/sso/callback')
    expect([...link.searchParams.keys()]).toEqual(['state', 'token', 'ejento_access_token'])
    expect(link.searchParams.get('state')).toBe('abc')
    const me = await call(`${sim.apiUrl}/api/v2/users/me`, { token: link.searchParams.get('ejento_access_token') as string })
    expect(me.json().data.email).toBe(DEMO.email)
    const refreshed = await call(`${sim.authUrl}${AUTH}/users/refresh-access-token`, { method: 'POST', token: link.searchParams.get('token') as string })
    expect(refreshed.status).toBe(200)

    await startPasswordless(sim, { email: DEMO.email, next: 'https://bff.test/plain' })
    expect(sim.lastMail(DEMO.email)?.magicLink).toMatch(/^https:\/\/bff\.test\/plain\?token=[^&]+&ejento_access_token=[^&]+$/)
  })

  it('keeps only the newest recordLimit mails', async () => {
    const sim = await simulator({ recordLimit: 4 })
    for (let index = 0; index < 12; index++) await startPasswordless(sim, { email: DEMO.email })
    expect(sim.state.outbox.length).toBeLessThanOrEqual(5)
    expect(sim.state.outbox.length).toBeGreaterThanOrEqual(4)
    expect(sim.counter('passwordless_mail')).toBe(12)
  })
})

describe('simulator v2: SSO and feature flags', () => {
  async function sso (sim: Simulator, provider: string, next?: string): Promise<Answer> {
    const query = next === undefined ? '' : `?next=${encodeURIComponent(next)}`
    return await call(`${sim.authUrl}${AUTH}/sso/${provider}/login${query}`, { redirect: 'manual', key: false })
  }

  it('redirects to next with both tokens of the SSO user, keeping a query next already has', async () => {
    const sim = await simulator()
    const answer = await sso(sim, 'microsoft', 'http://bff.test/auth/sso/callback?state=s1')
    expect(answer.status).toBe(302)
    const location = new URL(answer.headers.get('location') as string)
    expect(`${location.origin}${location.pathname}`).toBe('http://bff.test/auth/sso/callback')
    expect([...location.searchParams.keys()]).toEqual(['state', 'token', 'ejento_access_token'])
    expect(location.searchParams.get('state')).toBe('s1')
    const me = await call(`${sim.apiUrl}/api/v2/users/me`, { token: location.searchParams.get('ejento_access_token') as string })
    expect(me.json().data.email).toBe(DEMO.email)

    const plain = await sso(sim, 'google', 'http://bff.test/cb')
    expect(plain.headers.get('location')).toMatch(/^http:\/\/bff\.test\/cb\?token=[^&]+&ejento_access_token=[^&]+$/)
  })

  it('comes back as the ssoEmail user, creating an account on first use', async () => {
    const sim = await simulator({ ssoEmail: ADMIN.email })
    const admin = new URL((await sso(sim, 'google', 'http://bff.test/cb')).headers.get('location') as string)
    expect((await call(`${sim.apiUrl}/api/v2/users/me`, { token: admin.searchParams.get('ejento_access_token') as string })).json().data.email).toBe(ADMIN.email)
    sim.configure({ ssoEmail: 'newcomer@example.com' })
    const newcomer = new URL((await sso(sim, 'google', 'http://bff.test/cb')).headers.get('location') as string)
    expect((await call(`${sim.apiUrl}/api/v2/users/me`, { token: newcomer.searchParams.get('ejento_access_token') as string })).json().data.email).toBe('newcomer@example.com')
    expect(sim.state.users.size).toBe(3)
  })

  it('answers 404 to an unknown provider and 422 without next', async () => {
    const sim = await simulator()
    const unknown = await sso(sim, 'myspace', 'http://bff.test/cb')
    expect(unknown.status).toBe(404)
    expect(unknown.json()).toEqual({ detail: expect.any(String) })
    expect((await sso(sim, 'google')).status).toBe(422)
    expect(sim.state.issuedTokens).toEqual([])
  })

  it('announces the log-in methods, all on by default, as the loginFlags setting says', async () => {
    const sim = await simulator()
    const flags = async (): Promise<Answer> => await call(`${sim.authUrl}${AUTH}/feature-flags/logins`)
    expect((await flags()).json()).toEqual({
      success: true,
      message: expect.any(String),
      data: { password_login: true, passwordless_login: true, google_sso: true, microsoft_sso: true }
    })
    sim.configure({ loginFlags: { passwordless_login: false, google_sso: false } })
    expect((await flags()).json().data).toEqual({ password_login: true, passwordless_login: false, google_sso: false, microsoft_sso: true })
  })
})

describe('simulator v2: injected faults', () => {
  it('answers an injected status on a v2 path, then behaves again', async () => {
    const sim = await simulator()
    sim.inject({ upstream: 'auth', path: `${AUTH}/login/access-token`, status: 503, body: { detail: 'Down for maintenance' } })
    const failed = await logIn(sim)
    expect(failed.status).toBe(503)
    expect(failed.json()).toEqual({ detail: 'Down for maintenance' })
    expect((await logIn(sim)).status).toBe(200)
  })

  it('drops a v2 stream after a number of events, and keeps no answer', async () => {
    const sim = await simulator()
    const { ejento_access_token: token } = await tokens(sim)
    sim.inject({ upstream: 'api', path: /\/responses\/stream$/, dropStreamAfterEvents: 5 })
    const response = await fetch(`${sim.apiUrl}/response-service/api/v2/agents/1/responses/stream`, {
      method: 'POST',
      headers: { 'ocp-apim-subscription-key': KEY, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_query: 'Cut me off', chat_thread_id: null })
    })
    expect(response.status).toBe(200)
    await expect(response.text()).rejects.toThrow()
    const [recorded] = sim.requestsTo('api', /\/responses\/stream$/)
    expect(recorded?.events).toHaveLength(5)
    expect(recorded?.events.map((event) => event.event)).not.toContain('end')
    expect(sim.state.agentResponses.size).toBe(0)
  })
})

describe('simulator v2: the profile setting', () => {
  it('switches both servers between the guide and v2 while running', async () => {
    const sim = await simulator({ profile: 'guide', subscriptionKey: undefined })
    const guideLogin = await call(`${sim.authUrl}/api/login/access-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: DEMO.email, password: DEMO.password }).toString()
    })
    expect(guideLogin.json()).toHaveProperty('token_type', 'bearer')
    expect((await logIn(sim)).status).toBe(404)
    sim.configure({ profile: 'v2' })
    expect((await logIn(sim)).json()).toMatchObject({ success: true })
  })
})

describe('EJENTO_PATH_PROFILE=v2 npm run demo', () => {
  it('logs in and streams an answer through the BFF, against the v2 simulator behind a subscription key', async () => {
    const { url, printed } = await startDemoPrinting({ EJENTO_PATH_PROFILE: 'v2' })
    expect(printed).toContain('path profile: v2')
    const login = await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(DEMO) })
    expect(login.status).toBe(200)
    expect(await login.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    const cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0] as string
    const thread = await fetch(`${url}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' })
    expect(thread.status).toBe(201)
    const threadId = ((await thread.json()) as { data: { id: number } }).data.id
    const streamed = await fetch(`${url}/api/agents/1/responses`, {
      method: 'POST',
      headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ user_query: 'What is Ejento?', chat_thread_id: threadId })
    })
    expect(streamed.status).toBe(200)
    const text = await streamed.text()
    const events = steps(text)
    expect(events.at(-1)).toMatchObject({ step: 'end', success: true, output: { thread_id: threadId } })
    expect(events.filter((event) => event.step === 'assistant_stream').map((event) => event.delta).join('')).toContain('What is Ejento?')
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/)
  }, 60_000)
})
