import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { authorizationOf, createThread, login, sessionIdOf, setup, sleep } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { GUIDE, PROFILES, exactPath, gatewayHeaders } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

async function refresh (context: TestContext, cookie?: string): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: 'POST', url: '/auth/refresh', headers: cookie === undefined ? {} : { cookie } })
}

/** Calls the simulated authentication server directly, as an outsider holding `token` (and the gateway key) would. */
async function listUsersUpstream (context: TestContext, profile: TestProfile, token: string): Promise<number> {
  const response = await fetch(`${context.sim.authUrl}${profile.paths.auth.users}`, { headers: { authorization: `Bearer ${token}`, ...gatewayHeaders(profile) } })
  await response.arrayBuffer()
  return response.status
}

describe.each(PROFILES)('POST /auth/refresh on %s', (_name, profile) => {
  const CHAT_THREAD = exactPath(profile.paths.api.chatThread('1'))

  it('answers 204 after exactly one upstream refresh; the old auth-app token is revoked, the session works with the new one', async () => {
    const context = await setup({ profile, sim: { strictRotation: true } })
    const cookie = await login(context)
    const [oldAuth, oldEjento] = context.sim.state.issuedTokens
    expect(await listUsersUpstream(context, profile, oldAuth as string)).toBe(200)

    const answer = await refresh(context, cookie)

    expect(answer.statusCode).toBe(204)
    expect(answer.body).toBe('')
    expect(context.sim.counter('refresh')).toBe(1)
    expect(context.sim.counter('refresh_refused')).toBe(0)
    const refreshes = context.sim.requestsTo('auth', /refresh-access-token$/)
    expect(refreshes).toHaveLength(1)
    expect(authorizationOf(refreshes[0])).toBe(`Bearer ${oldAuth}`)
    // Strict rotation: the token the refresh was made with is dead upstream.
    expect(await listUsersUpstream(context, profile, oldAuth as string)).toBe(403)

    const [newAuth, newEjento] = context.sim.state.issuedTokens.slice(2)
    expect(newAuth).toBeDefined()
    const users = await context.app.inject({ method: 'GET', url: '/api/users', headers: { cookie } })
    expect(users.statusCode).toBe(200)
    expect(authorizationOf(context.sim.requestsTo('auth', exactPath(profile.paths.auth.users)).at(-1))).toBe(`Bearer ${newAuth}`)
    const thread = await createThread(context, cookie)
    expect(thread.statusCode).toBe(201)
    expect(authorizationOf(context.sim.requestsTo('api', CHAT_THREAD)[0])).toBe(`Bearer ${newEjento}`)
    expect(authorizationOf(context.sim.requestsTo('api', CHAT_THREAD)[0])).not.toBe(`Bearer ${oldEjento}`)
    // Using the new tokens cost no further refresh and no refused token.
    expect(context.sim.counter('refresh')).toBe(1)
    expect(context.sim.counter('auth_token_rejected')).toBe(1)
    expect(context.sim.counter('ejento_token_rejected')).toBe(0)
  })

  it('a refused refresh is 401 session_expired and ends the session; the next request with the dead cookie clears it', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const id = sessionIdOf(cookie)
    expect(await context.app.sessions.store.get(id)).not.toBeNull()
    context.sim.expireTokens('all')

    const answer = await refresh(context, cookie)

    expect(answer.statusCode).toBe(401)
    expect(answer.json()).toMatchObject({ status: 401, code: 'session_expired' })
    expect(context.sim.counter('refresh_refused')).toBe(1)
    expect(context.sim.counter('refresh')).toBe(0)

    // Not cleared by the answer that ended it: the browser may hold a newer cookie by now (issue 16).
    expect(answer.headers['set-cookie']).toBeUndefined()

    expect(await context.app.sessions.store.get(id)).toBeNull()
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json()).toEqual({ authenticated: false })
    const cleared = session.cookies.filter((candidate) => candidate.name === context.config.session.cookieName)
    expect(cleared).toHaveLength(1)
    expect(cleared[0]?.value).toBe('')
    const expired = cleared[0]?.maxAge !== undefined
      ? cleared[0].maxAge <= 0
      : cleared[0]?.expires !== undefined && cleared[0].expires.getTime() <= Date.now()
    expect(expired).toBe(true)

    const again = await refresh(context, cookie)
    expect(again.statusCode).toBe(401)
    expect(again.json().code).toBe('not_authenticated')
    // The ended session never tries the upstream again.
    expect(context.sim.requestsTo('auth', /refresh-access-token$/)).toHaveLength(1)
  })

  it('10 concurrent refreshes of one session: all 204, exactly one upstream refresh (strict rotation)', async () => {
    const context = await setup({ profile, sim: { strictRotation: true, refreshDelayMs: 100 } })
    const cookie = await login(context)

    const answers = await Promise.all(Array.from({ length: 10 }, async () => await refresh(context, cookie)))

    expect(answers.map((answer) => answer.statusCode)).toEqual(Array(10).fill(204))
    expect(context.sim.counter('refresh')).toBe(1)
    expect(context.sim.counter('refresh_refused')).toBe(0)
    expect(context.sim.requestsTo('auth', /refresh-access-token$/)).toHaveLength(1)

    const thread = await createThread(context, cookie)
    expect(thread.statusCode).toBe(201)
    expect(authorizationOf(context.sim.requestsTo('api', CHAT_THREAD)[0])).toBe(`Bearer ${context.sim.state.issuedTokens[3]}`)
  })
})

// No session, token lifetimes and the refresh skew: one code for both profiles, run once, on the guide.
describe('POST /auth/refresh, whatever the profile', () => {
  const CHAT_THREAD = exactPath(GUIDE.paths.api.chatThread('1'))

  it('answers 401 not_authenticated without a session, and calls no upstream', async () => {
    const context = await setup()

    const answer = await refresh(context)

    expect(answer.statusCode).toBe(401)
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(answer.json()).toMatchObject({ status: 401, code: 'not_authenticated' })
    expect(context.sim.requests).toHaveLength(0)
  })

  it.each(['jwt-without-exp', 'opaque'] as const)('%s tokens get TOKEN_DEFAULT_LIFETIME and are refreshed proactively past the half-life cap', async (tokenFormat) => {
    // Upstream, the tokens live a week; the BFF cannot know it and assumes the 2 s default.
    const context = await setup({
      sim: { tokenFormat, authTokenTtl: 7 * 86_400, ejentoTokenTtl: 7 * 86_400 },
      env: { TOKEN_DEFAULT_LIFETIME: '2s' }
    })
    const cookie = await login(context)

    // Fresh tokens: the 60 s skew is capped at half their assumed life (1 s), so not yet due.
    expect((await createThread(context, cookie)).statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(0)

    await sleep(1200)
    const due = await createThread(context, cookie)

    expect(due.statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(1)
    // Proactive: the upstream never refused a token (it would have accepted the old one anyway).
    expect(context.sim.counter('ejento_token_rejected')).toBe(0)
    const calls = context.sim.requestsTo('api', CHAT_THREAD)
    expect(authorizationOf(calls[1])).toBe(`Bearer ${context.sim.state.issuedTokens[3]}`)
    const order = context.sim.requests.filter((request) => request === calls[1] || /refresh-access-token$/.test(request.path))
    expect(order.map((request) => request.upstream)).toEqual(['auth', 'api'])

    // The refreshed pair is fresh again.
    expect((await createThread(context, cookie)).statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(1)
  })

  it('short-lived tokens are not refreshed on every request (30 s tokens, default 60 s skew)', async () => {
    const context = await setup({ sim: { authTokenTtl: 30, ejentoTokenTtl: 30 } })
    expect(context.config.tokens.refreshSkewMs).toBe(60_000)
    const cookie = await login(context)

    for (let call = 0; call < 5; call++) {
      expect((await createThread(context, cookie)).statusCode).toBe(201)
      const users = await context.app.inject({ method: 'GET', url: '/api/users', headers: { cookie } })
      expect(users.statusCode).toBe(200)
    }

    expect(context.sim.counter('refresh')).toBe(0)
    expect(context.sim.counter('chat_thread')).toBe(5)
  })
})
