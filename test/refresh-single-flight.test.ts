import { describe, expect, it } from 'vitest'
import { login, setup } from './helpers/app.js'
import { PROFILES } from './helpers/profiles.js'

describe.each(PROFILES)('token refresh shares one upstream refresh per session on %s', (_name, profile) => {
  it('50 concurrent requests on an expired session give 50 successes and exactly 1 upstream refresh (strict rotation)', async () => {
    const context = await setup({ profile, sim: { strictRotation: true, refreshDelayMs: 50 } })
    const cookie = await login(context)
    // The Ejento token is dead; the auth-app token can still refresh (once: rotation is strict).
    context.sim.expireTokens('ejento')

    const answers = await Promise.all(Array.from({ length: 50 }, async () =>
      await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie } })))

    expect(answers.map((answer) => answer.statusCode)).toEqual(Array(50).fill(201))
    expect(context.sim.counter('refresh')).toBe(1)
    expect(context.sim.counter('refresh_refused')).toBe(0)
    expect(context.sim.counter('chat_thread')).toBe(50)
  })

  it('a refused refresh ends the session: 401 session_expired, then not_authenticated', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    context.sim.expireTokens('all')
    context.sim.configure({ strictRotation: true })
    // The auth-app token is dead too: the refresh is refused.
    const answer = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie } })
    expect(answer.statusCode).toBe(401)
    expect(answer.json().code).toBe('session_expired')
    expect(context.sim.counter('refresh_refused')).toBe(1)
    const after = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(after.json()).toEqual({ authenticated: false })
  })
})

// When tokens are due is one code for both profiles: run once, on the guide.
describe('token refresh before the call', () => {
  it('refreshes proactively when the tokens expire within the skew, before calling upstream', async () => {
    const context = await setup({ sim: { authTokenTtl: 30, ejentoTokenTtl: 30 }, env: { TOKEN_REFRESH_SKEW: '20s' } })
    const cookie = await login(context)
    // 30 s tokens with a 20 s skew capped at half their life (15 s): not yet due.
    const first = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie } })
    expect(first.statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(0)

    const soon = await setup({ sim: { authTokenTtl: 30, ejentoTokenTtl: 30 }, env: { TOKEN_REFRESH_SKEW: '20s' } })
    soon.sim.configure({ authTokenTtl: 2, ejentoTokenTtl: 2 })
    const soonCookie = await login(soon)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const second = await soon.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie: soonCookie } })
    expect(second.statusCode).toBe(201)
    expect(soon.sim.counter('refresh')).toBe(1)
    // The refresh came before the call: no upstream call was refused for its token.
    expect(soon.sim.counter('ejento_token_rejected')).toBe(0)
  })
})
