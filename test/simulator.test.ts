import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../src/simulator/index.js'
import { ADMIN, DEMO, onCleanup } from './helpers/app.js'

/** The simulator on its own, over real HTTP: it must behave like Ejento for the BFF's tests to mean anything. */

async function simulator (options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(options)
  onCleanup(sim.close)
  return sim
}

interface Answer {
  status: number
  headers: Headers
  text: string
  json: () => any
}

async function call (url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init)
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) }
}

function bearer (token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...extra }
}

async function logIn (sim: Simulator, credentials = DEMO, headers: Record<string, string> = {}): Promise<Answer> {
  return await call(`${sim.authUrl}/api/login/access-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ username: credentials.email, password: credentials.password }).toString()
  })
}

async function tokens (sim: Simulator, credentials = DEMO): Promise<{ access_token: string, ejento_access_token: string }> {
  const answer = await logIn(sim, credentials)
  expect(answer.status).toBe(200)
  const body = answer.json()
  return body.data ?? body
}

function claimsOf (token: string): Record<string, unknown> {
  const payload = token.split('.')[1]
  if (payload === undefined) throw new Error('not a JWT')
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
}

async function refresh (sim: Simulator, authToken: string): Promise<Answer> {
  return await call(`${sim.authUrl}/api/users/refresh-access-token`, { method: 'POST', headers: bearer(authToken) })
}

async function newThread (sim: Simulator, ejentoToken: string, agentId = 1): Promise<Answer> {
  return await call(`${sim.apiUrl}/api/agent/${agentId}/chat-thread`, { method: 'POST', headers: bearer(ejentoToken) })
}

describe('simulator: log-in', () => {
  it('listens on random local ports', async () => {
    const sim = await simulator()
    expect(sim.authUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(sim.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(sim.authUrl).not.toBe(sim.apiUrl)
  })

  it('gives the demo user both tokens, flat by default', async () => {
    const sim = await simulator()
    const answer = await logIn(sim)
    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-type')).toContain('application/json')
    const body = answer.json()
    expect(Object.keys(body).sort()).toEqual(['access_token', 'ejento_access_token', 'token_type'])
    expect(body.token_type).toBe('bearer')
    expect(body.access_token).not.toBe(body.ejento_access_token)
    expect(claimsOf(body.access_token)).toMatchObject({ typ: 'auth' })
    expect(claimsOf(body.ejento_access_token)).toMatchObject({ typ: 'ejento' })
    expect(typeof claimsOf(body.access_token).exp).toBe('number')
    expect(sim.state.issuedTokens).toEqual([body.access_token, body.ejento_access_token])
    expect(sim.counter('login')).toBe(1)
  })

  it('answers the envelope shape with loginShape envelope', async () => {
    const sim = await simulator({ loginShape: 'envelope' })
    const body = (await logIn(sim)).json()
    expect(body.success).toBe(true)
    expect(Object.keys(body.data).sort()).toEqual(['access_token', 'ejento_access_token'])
    expect(body.access_token).toBeUndefined()
  })

  it('answers 400 Incorrect email or password for a wrong password or an unknown user', async () => {
    const sim = await simulator()
    for (const credentials of [{ ...DEMO, password: 'wrong-password' }, { email: 'nobody@example.com', password: 'whatever-pass' }]) {
      const answer = await logIn(sim, credentials)
      expect(answer.status).toBe(400)
      expect(answer.json()).toEqual({ detail: 'Incorrect email or password' })
    }
    expect(sim.counter('login_failed')).toBe(2)
    expect(sim.state.issuedTokens).toHaveLength(0)
  })

  it('answers 422 naming both form fields when the body is JSON instead of a form', async () => {
    const sim = await simulator()
    const json = await call(`${sim.authUrl}/api/login/access-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: DEMO.email, password: DEMO.password })
    })
    expect(json.status).toBe(422)
    expect(json.json().detail.map((issue: { loc: string[] }) => issue.loc[1])).toEqual(['username', 'password'])
  })

  it('signs up a user who can then log in, and refuses the same email twice', async () => {
    const sim = await simulator()
    const input = { email: 'New.User@Example.com', password: 'new-user-password', full_name: 'New User' }
    const signup = await call(`${sim.authUrl}/api/users/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) })
    expect(signup.status).toBe(200)
    const user = signup.json()
    expect(user).toMatchObject({ email: 'new.user@example.com', full_name: 'New User', is_active: true, is_superuser: false })
    expect(typeof user.id).toBe('string')
    expect(signup.text).not.toContain(input.password)
    expect(Object.keys(user)).not.toContain('passwordHash')
    expect((await logIn(sim, { email: input.email, password: input.password })).status).toBe(200)
    const again = await call(`${sim.authUrl}/api/users/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) })
    expect(again.status).toBe(400)
  })
})

describe('simulator: refresh', () => {
  it('gives a new pair for the auth token, in the envelope shape by default', async () => {
    const sim = await simulator()
    const first = await tokens(sim)
    const answer = await refresh(sim, first.access_token)
    expect(answer.status).toBe(200)
    const body = answer.json()
    expect(body.success).toBe(true)
    expect(body.data.access_token).toEqual(expect.any(String))
    expect(body.data.ejento_access_token).toEqual(expect.any(String))
    expect(body.data.access_token).not.toBe(first.access_token)
    expect(body.data.ejento_access_token).not.toBe(first.ejento_access_token)
    expect(sim.counter('refresh')).toBe(1)
    // The new pair works.
    expect((await newThread(sim, body.data.ejento_access_token)).status).toBe(201)
  })

  it('answers flat with refreshShape flat', async () => {
    const sim = await simulator({ refreshShape: 'flat' })
    const first = await tokens(sim)
    const body = (await refresh(sim, first.access_token)).json()
    expect(body.access_token).toEqual(expect.any(String))
    expect(body.data).toBeUndefined()
  })

  it('refuses the same old token the second time under strict rotation (403)', async () => {
    const sim = await simulator({ strictRotation: true })
    const first = await tokens(sim)
    expect((await refresh(sim, first.access_token)).status).toBe(200)
    const second = await refresh(sim, first.access_token)
    expect(second.status).toBe(403)
    expect(second.json()).toEqual({ detail: 'Could not validate credentials' })
    expect(sim.counter('refresh')).toBe(1)
    expect(sim.counter('refresh_refused')).toBe(1)
  })

  it('lets the same token refresh twice without strict rotation', async () => {
    const sim = await simulator({ strictRotation: false })
    const first = await tokens(sim)
    expect((await refresh(sim, first.access_token)).status).toBe(200)
    expect((await refresh(sim, first.access_token)).status).toBe(200)
    expect(sim.counter('refresh')).toBe(2)
    expect(sim.counter('refresh_refused')).toBe(0)
  })

  it('refuses the Ejento token, and no token at all, as a refresh credential', async () => {
    const sim = await simulator()
    const first = await tokens(sim)
    expect((await refresh(sim, first.ejento_access_token)).status).toBe(403)
    const none = await call(`${sim.authUrl}/api/users/refresh-access-token`, { method: 'POST' })
    expect(none.status).toBe(403)
    expect(sim.counter('refresh_refused')).toBe(2)
  })
})

describe('simulator: token expiry', () => {
  it("expireTokens('ejento') kills the Ejento token (401 on the API server) while the auth token still works", async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(201)
    sim.expireTokens('ejento')
    const refused = await newThread(sim, pair.ejento_access_token)
    expect(refused.status).toBe(401)
    expect(refused.json()).toMatchObject({ success: false })
    expect(sim.counter('ejento_token_rejected')).toBe(1)
    const users = await call(`${sim.authUrl}/api/users/?skip=0&limit=100`, { headers: bearer(pair.access_token) })
    expect(users.status).toBe(200)
    expect(users.json().count).toBe(2)
    // A fresh pair works again.
    const fresh = (await refresh(sim, pair.access_token)).json().data
    expect((await newThread(sim, fresh.ejento_access_token)).status).toBe(201)
  })

  it("expireTokens('auth') kills the auth token with FastAPI's 403", async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    sim.expireTokens('auth')
    const users = await call(`${sim.authUrl}/api/users/`, { headers: bearer(pair.access_token) })
    expect(users.status).toBe(403)
    expect(users.json()).toEqual({ detail: 'Could not validate credentials' })
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(201)
  })

  it('lets a token die at its own exp', async () => {
    const sim = await simulator({ ejentoTokenTtl: 1 })
    const pair = await tokens(sim)
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(201)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(401)
  })

  it('answers 401 Not authenticated without a token on the auth server', async () => {
    const sim = await simulator()
    const answer = await call(`${sim.authUrl}/api/users/`)
    expect(answer.status).toBe(401)
    expect(answer.json()).toEqual({ detail: 'Not authenticated' })
    expect(answer.headers.get('www-authenticate')).toBe('Bearer')
  })

  it('refuses each token kind on the other server', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    expect((await newThread(sim, pair.access_token)).status).toBe(401)
    expect((await call(`${sim.authUrl}/api/users/`, { headers: bearer(pair.ejento_access_token) })).status).toBe(403)
  })
})

describe('simulator: Ejento API', () => {
  it('creates a chat thread: 201 {success, data: {id}}', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    const first = await newThread(sim, pair.ejento_access_token)
    expect(first.status).toBe(201)
    const body = first.json()
    expect(body).toMatchObject({ success: true, message: expect.any(String), data: { id: expect.any(Number), agent_id: 1 } })
    const second = (await newThread(sim, pair.ejento_access_token)).json()
    expect(second.data.id).not.toBe(body.data.id)
    expect(sim.counter('chat_thread')).toBe(2)
  })

  it('answers 404 for an unknown agent', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    const answer = await newThread(sim, pair.ejento_access_token, 999)
    expect(answer.status).toBe(404)
    expect(answer.json()).toEqual({ success: false, message: 'Agent not found' })
  })

  it('answers a response as JSON', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    const thread = (await newThread(sim, pair.ejento_access_token)).json().data.id
    const answer = await call(`${sim.apiUrl}/api/agent/1/response`, {
      method: 'POST',
      headers: bearer(pair.ejento_access_token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ user_query: 'What is Ejento?', chat_thread_id: thread })
    })
    expect(answer.status).toBe(200)
    const body = answer.json()
    expect(body.success).toBe(true)
    expect(body.data.answer).toContain('What is Ejento?')
    expect(body.data.references).toEqual(expect.any(Array))
    expect(body.data.chat_thread_id).toBe(thread)
  })

  it('refuses a response on a thread that is not the caller\'s, or without a query', async () => {
    const sim = await simulator()
    const demo = await tokens(sim)
    const admin = await tokens(sim, ADMIN)
    const thread = (await newThread(sim, demo.ejento_access_token)).json().data.id
    const foreign = await call(`${sim.apiUrl}/api/agent/1/response`, {
      method: 'POST',
      headers: bearer(admin.ejento_access_token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ user_query: 'Hi', chat_thread_id: thread })
    })
    expect(foreign.status).toBe(404)
    const empty = await call(`${sim.apiUrl}/api/agent/1/response`, {
      method: 'POST',
      headers: bearer(demo.ejento_access_token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ chat_thread_id: thread })
    })
    expect(empty.status).toBe(422)
  })

  it('streams a response as server-sent events: start, tokens, end', async () => {
    const sim = await simulator({ streamIntervalMs: 5 })
    const pair = await tokens(sim)
    const thread = (await newThread(sim, pair.ejento_access_token)).json().data.id
    const answer = await call(`${sim.apiUrl}/api/agent/1/response`, {
      method: 'POST',
      headers: bearer(pair.ejento_access_token, { 'content-type': 'application/json', accept: 'text/event-stream' }),
      body: JSON.stringify({ user_query: 'Stream please', chat_thread_id: thread })
    })
    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-type')).toContain('text/event-stream')
    const events = answer.text.split('\n\n').filter((block) => block.trim() !== '').map((block) => {
      const event = /^event: (.+)$/m.exec(block)?.[1]
      const data = /^data: (.+)$/m.exec(block)?.[1]
      return { event, data: JSON.parse(data ?? 'null') }
    })
    expect(events[0]).toEqual({ event: 'start', data: { chat_thread_id: thread } })
    const last = events.at(-1)
    expect(last?.event).toBe('end')
    const tokenEvents = events.slice(1, -1)
    expect(tokenEvents.length).toBeGreaterThan(3)
    expect(tokenEvents.every((event) => event.event === 'token' && typeof event.data.delta === 'string')).toBe(true)
    const text = tokenEvents.map((event) => event.data.delta).join('')
    expect(text).toBe(last?.data.output.answer)
    expect(text).toContain('Stream please')
    const [recorded] = sim.requestsTo('api', /\/response$/)
    expect(recorded?.events.map((event) => event.event)).toEqual(events.map((event) => event.event))
    expect(recorded?.completed).toBe(true)
  })

  it('records every request it received, with headers and body', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    await newThread(sim, pair.ejento_access_token)
    expect(sim.requests.map((request) => `${request.upstream} ${request.method} ${request.path}`)).toEqual([
      'auth POST /api/login/access-token',
      'api POST /api/agent/1/chat-thread'
    ])
    const [login] = sim.requestsTo('auth')
    expect(new URLSearchParams(login?.body.toString()).get('username')).toBe(DEMO.email)
    expect(sim.requestsTo('api')[0]?.headers.authorization).toBe(`Bearer ${pair.ejento_access_token}`)
  })
})

describe('simulator: gateway subscription key', () => {
  it('answers 401 to calls without Ocp-Apim-Subscription-Key, on both servers', async () => {
    const key = 'gateway-subscription-key'
    const sim = await simulator({ subscriptionKey: key })
    const without = await logIn(sim)
    expect(without.status).toBe(401)
    expect(without.json().message).toMatch(/subscription key/)
    const wrong = await logIn(sim, DEMO, { 'ocp-apim-subscription-key': 'wrong-key' })
    expect(wrong.status).toBe(401)
    const withKey = await logIn(sim, DEMO, { 'ocp-apim-subscription-key': key })
    expect(withKey.status).toBe(200)
    const pair = withKey.json()
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(401)
    const thread = await call(`${sim.apiUrl}/api/agent/1/chat-thread`, { method: 'POST', headers: bearer(pair.ejento_access_token, { 'ocp-apim-subscription-key': key }) })
    expect(thread.status).toBe(201)
    expect(sim.counter('subscription_key_rejected')).toBe(3)
    expect(sim.counter('login')).toBe(1)
  })
})

describe('simulator: injected faults', () => {
  it('answers an injected status and body, once by default, then behaves again', async () => {
    const sim = await simulator()
    sim.inject({ upstream: 'auth', path: '/api/login/access-token', status: 503, body: { detail: 'Down for maintenance' } })
    const failed = await logIn(sim)
    expect(failed.status).toBe(503)
    expect(failed.json()).toEqual({ detail: 'Down for maintenance' })
    expect(sim.counter('login')).toBe(0)
    expect((await logIn(sim)).status).toBe(200)
  })

  it('applies an injection `times` times, and only to matching requests', async () => {
    const sim = await simulator()
    sim.inject({ upstream: 'api', method: 'POST', path: /chat-thread$/, status: 500, times: 2 })
    expect((await logIn(sim)).status).toBe(200)
    const pair = (await logIn(sim)).json()
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(500)
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(500)
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(201)
  })

  it('answers a plain-text body as text', async () => {
    const sim = await simulator()
    sim.inject({ path: '/api/login/access-token', status: 502, body: 'Bad gateway' })
    const answer = await logIn(sim)
    expect(answer.status).toBe(502)
    expect(answer.headers.get('content-type')).toBe('text/plain')
    expect(answer.text).toBe('Bad gateway')
  })

  it('answers garbage: 200 that claims JSON but is not', async () => {
    const sim = await simulator()
    sim.inject({ path: '/api/login/access-token', mode: 'garbage' })
    const answer = await logIn(sim)
    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-type')).toBe('application/json')
    expect(() => answer.json() as unknown).toThrow()
  })

  it('drops the connection', async () => {
    const sim = await simulator()
    sim.inject({ path: '/api/login/access-token', mode: 'drop' })
    await expect(logIn(sim)).rejects.toThrow()
    expect((await logIn(sim)).status).toBe(200)
  })

  it('delays an answer, then runs the real handler', async () => {
    const sim = await simulator()
    sim.inject({ path: '/api/login/access-token', delayMs: 300 })
    const started = Date.now()
    const answer = await logIn(sim)
    expect(Date.now() - started).toBeGreaterThanOrEqual(280)
    expect(answer.status).toBe(200)
    expect(answer.json().access_token).toEqual(expect.any(String))
  })

  it('drops a stream after a number of events', async () => {
    const sim = await simulator({ streamIntervalMs: 5 })
    const pair = await tokens(sim)
    const thread = (await newThread(sim, pair.ejento_access_token)).json().data.id
    sim.inject({ upstream: 'api', path: /\/response$/, dropStreamAfterEvents: 3 })
    const response = await fetch(`${sim.apiUrl}/api/agent/1/response`, {
      method: 'POST',
      headers: bearer(pair.ejento_access_token, { 'content-type': 'application/json', accept: 'text/event-stream' }),
      body: JSON.stringify({ user_query: 'Cut me off', chat_thread_id: thread })
    })
    expect(response.status).toBe(200)
    await expect(response.text()).rejects.toThrow()
    const [recorded] = sim.requestsTo('api', /\/response$/)
    expect(recorded?.events).toHaveLength(3)
    expect(recorded?.events.map((event) => event.event)).not.toContain('end')
  })
})

describe('simulator: token formats', () => {
  it("issues JWTs without exp with tokenFormat 'jwt-without-exp', and they still work", async () => {
    const sim = await simulator({ tokenFormat: 'jwt-without-exp' })
    const pair = await tokens(sim)
    for (const token of [pair.access_token, pair.ejento_access_token]) {
      const claims = claimsOf(token)
      expect(claims).not.toHaveProperty('exp')
      expect(typeof claims.iat).toBe('number')
      expect(typeof claims.sub).toBe('string')
    }
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(201)
  })

  it("issues opaque tokens with tokenFormat 'opaque', and they still work", async () => {
    const sim = await simulator({ tokenFormat: 'opaque' })
    const pair = await tokens(sim)
    expect(pair.access_token.split('.')).toHaveLength(1)
    expect((await newThread(sim, pair.ejento_access_token)).status).toBe(201)
    expect((await call(`${sim.authUrl}/api/users/`, { headers: bearer(pair.access_token) })).status).toBe(200)
  })

  it('puts the user id in sub', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    expect(claimsOf(pair.access_token).sub).toBe(sim.state.userByEmail(DEMO.email)?.id)
  })
})

describe('simulator: users', () => {
  async function patchUser (sim: Simulator, authToken: string, userId: string, body: unknown): Promise<Answer> {
    return await call(`${sim.authUrl}/api/users/${userId}`, {
      method: 'PATCH',
      headers: bearer(authToken, { 'content-type': 'application/json' }),
      body: JSON.stringify(body)
    })
  }

  it("answers 403 \"The user doesn't have enough privileges\" to a non-admin's PATCH", async () => {
    const sim = await simulator()
    const demo = await tokens(sim)
    const target = sim.state.userByEmail(DEMO.email)?.id as string
    const answer = await patchUser(sim, demo.access_token, target, { full_name: 'Hacked' })
    expect(answer.status).toBe(403)
    expect(answer.json()).toEqual({ detail: "The user doesn't have enough privileges" })
    expect(sim.state.userByEmail(DEMO.email)?.full_name).toBe('Demo User')
  })

  it("applies the admin's PATCH and answers the user", async () => {
    const sim = await simulator()
    const admin = await tokens(sim, ADMIN)
    const target = sim.state.userByEmail(DEMO.email)?.id as string
    const answer = await patchUser(sim, admin.access_token, target, { full_name: 'Renamed User' })
    expect(answer.status).toBe(200)
    expect(answer.json()).toMatchObject({ id: target, email: DEMO.email, full_name: 'Renamed User' })
    expect(answer.json()).not.toHaveProperty('passwordHash')
    expect(sim.state.userByEmail(DEMO.email)?.full_name).toBe('Renamed User')
    const missing = await patchUser(sim, admin.access_token, 'no-such-user', { full_name: 'x' })
    expect(missing.status).toBe(404)
  })

  it('lists users with skip and limit', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    const answer = await call(`${sim.authUrl}/api/users/?skip=1&limit=1`, { headers: bearer(pair.access_token) })
    expect(answer.status).toBe(200)
    const body = answer.json()
    expect(body.count).toBe(2)
    expect(body.data).toHaveLength(1)
    expect(body.data[0].email).toBe(ADMIN.email)
  })

  it('changes the own password, after which only the new one logs in', async () => {
    const sim = await simulator()
    const pair = await tokens(sim)
    const answer = await call(`${sim.authUrl}/api/users/me/password`, {
      method: 'PATCH',
      headers: bearer(pair.access_token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ current_password: DEMO.password, new_password: 'brand-new-password' })
    })
    expect(answer.status).toBe(200)
    expect(answer.json()).toEqual({ message: 'Password updated successfully' })
    expect((await logIn(sim)).status).toBe(400)
    expect((await logIn(sim, { email: DEMO.email, password: 'brand-new-password' })).status).toBe(200)
  })
})

describe('simulator: bounded memory', () => {
  it('keeps only the newest recordLimit requests and issued tokens, so a long-running demo does not grow', async () => {
    const sim = await simulator({ recordLimit: 4 })
    let last: { access_token: string, ejento_access_token: string } | undefined
    for (let index = 0; index < 12; index++) last = await tokens(sim)

    // Trimmed in batches: never more than the limit and a tenth of it (rounded up).
    expect(sim.requests.length).toBeLessThanOrEqual(5)
    expect(sim.requests.length).toBeGreaterThanOrEqual(4)
    expect(sim.state.issuedTokens.length).toBeLessThanOrEqual(5)
    expect(sim.state.issuedTokens.slice(-2)).toEqual([last?.access_token, last?.ejento_access_token])
    expect(sim.counter('login')).toBe(12)
    // The newest tokens still work.
    const agents = await call(`${sim.apiUrl}/api/agents`, { headers: bearer(last?.ejento_access_token ?? '') })
    expect(agents.status).toBe(200)
  })
})
