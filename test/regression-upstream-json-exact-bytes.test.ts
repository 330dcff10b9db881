import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { login, onFileCleanup, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { PROFILES, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (outside attack on issue 13, F2): the named routes parsed Ejento's JSON and wrote
 * it again, so an id beyond 2^53 came out rounded (12345678901234567890 → 12345678901234567000),
 * `1.0` became `1`, and a `__proto__` key vanished (the sanitiser assigned it into a plain
 * object, which sets the prototype). The browser now gets Ejento's bytes as they are; when a
 * token field must go, the rest of the body keeps every key and number as Ejento wrote them.
 */

const BIG = '12345678901234567890'
const TOKEN = 'leaked-upstream-token-0123456789'

/** A new conversation as Ejento might write it: a big id, a `1.0`, a `__proto__` key, a unicode escape. */
const THREAD = `{"success":true,"message":"Chat thread created","data":{"id":${BIG},"title":"Caf\\u00e9 plan","agent_id":1,"score":1.0,"__proto__":{"polluted":true},"created_at":"2024-05-01T10:00:00"}}`
/** The same with a token field Ejento should never have sent, which the BFF takes out. */
const THREAD_WITH_TOKEN = THREAD.replace('"agent_id":1,', `"agent_id":1,"access_token":"${TOKEN}",`)
/** What the browser gets of it: the body re-written without that field, everything else as it was (escapes are the reader's). */
const THREAD_WITHOUT_TOKEN = THREAD.replace('Caf\\u00e9', 'Café')

/** An agent's answer with a big agent response id. */
const ANSWER = `{"success":true,"data":{"answer":"Yes.","references":[],"chat_thread_id":${BIG},"thread_id":${BIG},"agent_response_id":${BIG}9,"__proto__":{"polluted":true}}}`

/** A page of users from the authentication server, one with a password hash it should never have sent. */
const USERS = `{"data":[{"id":${BIG},"email":"a@example.com","hashed_password":"$2b$12$abcdefghijklmnopqrstuv","__proto__":{"is_superuser":true}}],"count":${BIG}}`
const USERS_WITHOUT_HASH = USERS.replace(',"hashed_password":"$2b$12$abcdefghijklmnopqrstuv"', '')

const JSON_TYPE = { 'content-type': 'application/json' }

function expectNoPollution (): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  expect(({} as Record<string, unknown>).is_superuser).toBeUndefined()
}

describe.each(PROFILES)('upstream JSON on the named routes reaches the browser exactly, on %s', (_name, profile: TestProfile) => {
  const threadPath = exactPath(profile.paths.api.chatThread('1'))

  async function createThread (context: TestContext, cookie: string): Promise<{ status: number, type: string | undefined, body: string }> {
    const response = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })
    return { status: response.statusCode, type: response.headers['content-type']?.toString(), body: response.body }
  }

  it('passes a new thread through byte for byte: the big id, 1.0, the escape and the __proto__ key', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', method: 'POST', path: threadPath, status: 201, body: THREAD, headers: JSON_TYPE })
    const answer = await createThread(context, cookie)
    expect(answer.status).toBe(201)
    expect(answer.type).toBe('application/json; charset=utf-8')
    expect(answer.body).toBe(THREAD)
    const data = (JSON.parse(answer.body) as { data: Record<string, unknown> }).data
    expect(Object.hasOwn(data, '__proto__')).toBe(true)
    expectNoPollution()
  })

  it('takes a token field out and keeps the rest as Ejento wrote it, __proto__ a key and the id whole', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', method: 'POST', path: threadPath, status: 201, body: THREAD_WITH_TOKEN, headers: JSON_TYPE })
    const answer = await createThread(context, cookie)
    expect(answer.status).toBe(201)
    expect(answer.body).not.toContain(TOKEN)
    expect(answer.body).toBe(THREAD_WITHOUT_TOKEN)
    expect(answer.body).toContain(`"id":${BIG},`)
    expect(answer.body).toContain('"__proto__":{"polluted":true}')
    expectNoPollution()
    expect(await waitFor(() => context.logs.some((line) => line.includes('secret fields removed from an upstream answer')), 2000)).toBe(true)
  })

  it('passes an agent\'s JSON answer through byte for byte', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', method: 'POST', path: exactPath(profile.paths.api.response('1')), status: 200, body: ANSWER, headers: JSON_TYPE })
    const response = await context.app.inject({ method: 'POST', url: '/api/agents/1/responses', headers: { cookie }, payload: { user_query: 'Anything?', chat_thread_id: 7 } })
    expect(response.statusCode).toBe(200)
    expect(response.body).toBe(ANSWER)
  })

  it('takes a password hash out of a users page and keeps the big ids and the __proto__ key', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'auth', method: 'GET', path: exactPath(profile.paths.auth.users), status: 200, body: USERS, headers: JSON_TYPE })
    const response = await context.app.inject({ method: 'GET', url: '/api/users', headers: { cookie } })
    expect(response.statusCode).toBe(200)
    expect(response.body).toBe(USERS_WITHOUT_HASH)
    const [user] = (JSON.parse(response.body) as { data: Array<Record<string, unknown>> }).data
    expect(Object.hasOwn(user ?? {}, '__proto__')).toBe(true)
    expectNoPollution()
  })
})

describe.each(PROFILES)('upstream JSON through the compiled server on a real socket, on %s', (_name, profile: TestProfile) => {
  let sim: Simulator
  let server: RealServer
  let cookie: string
  const threadPath = exactPath(profile.paths.api.chatThread('1'))

  beforeAll(async () => {
    sim = await startSimulator({ ...profile.sim })
    onFileCleanup(sim.close)
    server = await startRealServer(sim, profile.env, onFileCleanup)
    cookie = await realLogin(server.base)
  })

  async function createThread (): Promise<Response> {
    return await fetch(`${server.base}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' })
  }

  it('sends Ejento\'s bytes as they came', async () => {
    sim.inject({ upstream: 'api', method: 'POST', path: threadPath, status: 201, body: THREAD, headers: JSON_TYPE })
    const response = await createThread()
    expect(response.status).toBe(201)
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await response.text()).toBe(THREAD)
  })

  it('re-writes an answer that lost a token field without losing __proto__ or the big id', async () => {
    sim.inject({ upstream: 'api', method: 'POST', path: threadPath, status: 201, body: THREAD_WITH_TOKEN, headers: JSON_TYPE })
    const response = await createThread()
    expect(response.status).toBe(201)
    expect(await response.text()).toBe(THREAD_WITHOUT_TOKEN)
  })
})
