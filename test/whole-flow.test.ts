import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { secretsIn, sessionCookie, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { PROFILES, answerThreadId, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

/** What happens to the tokens in the middle of the flow. */
type Disturbance = 'ejento token expires' | 'auth token refused once' | 'tokens near expiry'

const USER = { email: 'flow.user@example.com', password: 'flow-password-1', full_name: 'Flow User' }
const NEW_PASSWORD = 'flow-password-2'

function bearerOf (authorization: string | string[] | undefined): string {
  return String(authorization).replace(/^Bearer /, '')
}

function kindOf (token: string): unknown {
  return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { typ?: unknown }).typ
}

/** The newest token of one kind the simulator issued. */
function newestToken (context: TestContext, kind: 'auth' | 'ejento'): string | undefined {
  return context.sim.state.issuedTokens.filter((token) => kindOf(token) === kind).at(-1)
}

/**
 * The whole Ejento flow through the BFF alone: sign up, log in, create a thread, ask, list
 * users, change the password, log out; with the tokens disturbed in the middle.
 */
async function runFlow (profile: TestProfile, disturbance: Disturbance): Promise<void> {
  const context = await setup({
    profile,
    // 4 s tokens (exp in whole seconds, so 3 to 4 s as the BFF reads them) are due for an early
    // refresh 1.5 to 2 s after the log-in: the steps before the pause have at least 1.5 s, and
    // the call after the 2.1 s pause almost 1.9 s before they expire.
    sim: disturbance === 'tokens near expiry' ? { authTokenTtl: 4, ejentoTokenTtl: 4 } : { authTokenTtl: 120, ejentoTokenTtl: 120 }
  })
  const answers: LightMyRequestResponse[] = []
  const call = async (options: InjectOptions): Promise<LightMyRequestResponse> => {
    const answer = await context.app.inject(options)
    answers.push(answer)
    return answer
  }

  // 1. Sign up: a user object, never the password; no session yet.
  const signup = await call({ method: 'POST', url: '/auth/signup', payload: USER })
  expect(signup.statusCode, signup.body).toBe(200)
  expect(signup.json()).toMatchObject({ email: USER.email, full_name: USER.full_name, is_active: true, is_superuser: false })
  expect(signup.body).not.toContain(USER.password)
  expect(sessionCookie(signup, context.config)).toBeUndefined()

  // 2. Log in.
  const loginAnswer = await call({ method: 'POST', url: '/auth/login', payload: { email: USER.email, password: USER.password } })
  expect(loginAnswer.statusCode, loginAnswer.body).toBe(200)
  expect(loginAnswer.json()).toMatchObject({ authenticated: true, user: { email: USER.email } })
  const cookie = sessionCookie(loginAnswer, context.config) as string
  expect(cookie).toBeDefined()
  let headers = { cookie }

  const session = await call({ method: 'GET', url: '/auth/session', headers })
  expect(session.json()).toMatchObject({ authenticated: true, user: { email: USER.email } })

  // 3. Create a thread.
  const thread = await call({ method: 'POST', url: '/api/agents/1/chat-threads', headers })
  expect(thread.statusCode, thread.body).toBe(201)
  const threadId = thread.json().data.id as number
  expect(typeof threadId).toBe('number')
  expect(context.sim.counter('refresh')).toBe(0)

  if (disturbance === 'ejento token expires') context.sim.expireTokens('ejento')
  if (disturbance === 'tokens near expiry') await new Promise((resolve) => setTimeout(resolve, 2100))

  // 4. Ask (JSON).
  const ask = await call({ method: 'POST', url: '/api/agents/1/responses', headers, payload: { user_query: 'How do I reset my password?', chat_thread_id: threadId } })
  expect(ask.statusCode, ask.body).toBe(200)
  expect(ask.json().data.answer).toContain('How do I reset my password?')
  expect(answerThreadId(profile, ask.json())).toBe(threadId)
  const asked = context.sim.requestsTo('api', exactPath(profile.paths.api.response('1')))
  if (disturbance === 'ejento token expires') {
    // Refused once with the dead token, refreshed once, retried once with the new one.
    expect(context.sim.counter('ejento_token_rejected')).toBe(1)
    expect(context.sim.counter('refresh')).toBe(1)
    expect(asked).toHaveLength(2)
  }
  if (disturbance === 'tokens near expiry') {
    // Refreshed before the call: the upstream never saw an expired token.
    expect(context.sim.counter('refresh')).toBeGreaterThanOrEqual(1)
    expect(context.sim.counter('ejento_token_rejected')).toBe(0)
    expect(context.sim.counter('auth_token_rejected')).toBe(0)
    expect(asked).toHaveLength(1)
  }
  if (disturbance !== 'auth token refused once') {
    expect(bearerOf(asked.at(-1)?.headers.authorization)).toBe(newestToken(context, 'ejento'))
  }

  if (disturbance === 'auth token refused once') {
    context.sim.inject({ upstream: 'auth', path: profile.paths.auth.users, status: 403, body: { detail: 'Could not validate credentials' } })
  }

  // 5. List users.
  const users = await call({ method: 'GET', url: '/api/users?skip=0&limit=10', headers })
  expect(users.statusCode, users.body).toBe(200)
  expect(users.json().count).toBe(3)
  expect(users.json().data.map((user: { email: string }) => user.email)).toContain(USER.email)
  const listed = context.sim.requestsTo('auth', exactPath(profile.paths.auth.users))
  if (disturbance === 'auth token refused once') {
    expect(context.sim.counter('refresh')).toBe(1)
    expect(listed).toHaveLength(2)
    expect(bearerOf(listed[1]?.headers.authorization)).not.toBe(bearerOf(listed[0]?.headers.authorization))
  }
  expect(bearerOf(listed.at(-1)?.headers.authorization)).toBe(newestToken(context, 'auth'))
  expect(kindOf(bearerOf(listed.at(-1)?.headers.authorization))).toBe('auth')

  // 6. Change the own password: the session gets a new id (a new cookie), the old one is dead.
  const password = await call({ method: 'PATCH', url: '/api/users/me/password', headers, payload: { current_password: USER.password, new_password: NEW_PASSWORD } })
  expect(password.statusCode, password.body).toBe(200)
  expect(password.json()).toEqual({ message: 'Password updated successfully', ended_sessions: 0 })
  const renewed = sessionCookie(password, context.config) as string
  expect(renewed).toBeDefined()
  expect(renewed).not.toBe(cookie)
  expect((await call({ method: 'GET', url: '/auth/session', headers })).json()).toEqual({ authenticated: false })
  headers = { cookie: renewed }

  // 7. Ask again on the same thread: the session still works.
  const again = await call({ method: 'POST', url: '/api/agents/1/responses', headers, payload: { user_query: 'And then?', chat_thread_id: threadId } })
  expect(again.statusCode, again.body).toBe(200)
  expect(again.json().data.answer).toContain('And then?')

  // Each disturbance cost exactly one refresh, and no refresh was ever refused.
  if (disturbance !== 'tokens near expiry') expect(context.sim.counter('refresh')).toBe(1)
  expect(context.sim.counter('refresh_refused')).toBe(0)

  // 8. Log out: the cookie is cleared and worthless from now on.
  const logout = await call({ method: 'POST', url: '/auth/logout', headers })
  expect(logout.statusCode).toBe(204)
  expect(sessionCookie(logout, context.config)).toBeUndefined()
  const after = await call({ method: 'GET', url: '/auth/session', headers })
  expect(after.json()).toEqual({ authenticated: false })
  const refused = await call({ method: 'POST', url: '/api/agents/1/chat-threads', headers })
  expect(refused.statusCode).toBe(401)
  expect(refused.json().code).toBe('not_authenticated')

  // 9. The old password is gone, the new one logs in.
  const oldLogin = await call({ method: 'POST', url: '/auth/login', payload: { email: USER.email, password: USER.password } })
  expect(oldLogin.statusCode).toBe(401)
  expect(oldLogin.json().code).toBe('invalid_credentials')
  const newLogin = await call({ method: 'POST', url: '/auth/login', payload: { email: USER.email, password: NEW_PASSWORD } })
  expect(newLogin.statusCode).toBe(200)

  // The browser never saw a token: not in a body, a header or a cookie; nor did the logs.
  const tokens = context.sim.state.issuedTokens
  expect(tokens.length).toBeGreaterThanOrEqual(disturbance === 'tokens near expiry' ? 4 : 6)
  for (const answer of answers) {
    expect(secretsIn(answer.body, tokens)).toEqual([])
    expect(secretsIn(JSON.stringify(answer.headers), tokens)).toEqual([])
    expect(answer.headers.authorization).toBeUndefined()
    for (const set of answer.cookies) expect(secretsIn(`${set.name}=${set.value}`, tokens)).toEqual([])
  }
  expect(secretsIn(context.logs.join('\n'), tokens)).toEqual([])
  // Nor any password.
  for (const answer of answers) {
    expect(answer.body).not.toContain(USER.password)
    expect(answer.body).not.toContain(NEW_PASSWORD)
  }
}

describe.each(PROFILES)('the whole Ejento flow through the BFF on %s', (_name, profile) => {
  it('works when the Ejento token expires in the middle (reactive refresh on the Ejento API)', async () => {
    await runFlow(profile, 'ejento token expires')
  })

  it('works when the authentication server refuses the auth-app token once (reactive refresh on the auth server)', async () => {
    await runFlow(profile, 'auth token refused once')
  })

  it('works when short-lived tokens come near expiry in the middle (proactive refresh)', async () => {
    await runFlow(profile, 'tokens near expiry')
  })
})
