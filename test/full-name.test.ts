import { describe, expect, it } from 'vitest'
import { parseRecord, serialiseRecord } from '../src/session/record.js'
import type { RecordedRequest } from '../src/simulator/index.js'
import { DEMO, authorizationOf, login, sessionCookie, setup } from './helpers/app.js'
import { PROFILES, exactPath } from './helpers/profiles.js'

/** The `typ` claim of the bearer token a recorded request carried: which of the two tokens it was. */
function tokenKindOf (request: RecordedRequest | undefined): unknown {
  const token = authorizationOf(request)?.replace(/^Bearer /, '') ?? ''
  const payload = token.split('.')[1] ?? ''
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { typ?: unknown }).typ
}

describe.each(PROFILES)('the user\'s full name on %s', (_name, profile) => {
  const whoAmI = profile.paths.whoAmI as { upstream: 'auth' | 'ejento', path: string }
  const whoAmIUpstream = whoAmI.upstream === 'auth' ? 'auth' : 'api'

  it('a log-in asks who-am-I with the right token on the right server, and answers and keeps full_name', async () => {
    const context = await setup({ profile })
    const answer = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })

    expect(answer.statusCode).toBe(200)
    expect(answer.json().user).toMatchObject({ email: DEMO.email, full_name: 'Demo User' })
    const calls = context.sim.requestsTo(whoAmIUpstream, exactPath(whoAmI.path))
    expect(calls).toHaveLength(1)
    expect(tokenKindOf(calls[0])).toBe(whoAmI.upstream)

    const cookie = sessionCookie(answer, context.config) as string
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email, full_name: 'Demo User' } })
    // Read from the session: who-am-I is asked once, at log-in.
    expect(context.sim.requestsTo(whoAmIUpstream, exactPath(whoAmI.path))).toHaveLength(1)
  })

  it('a signed-up user\'s name is the one given at sign-up; a user without one has no full_name', async () => {
    const context = await setup({ profile })
    const named = { email: 'named@example.com', password: 'named-password' }
    expect((await context.app.inject({ method: 'POST', url: '/auth/signup', payload: { ...named, full_name: 'Ada Lovelace' } })).statusCode).toBe(200)
    expect((await context.app.inject({ method: 'POST', url: '/auth/login', payload: named })).json().user.full_name).toBe('Ada Lovelace')

    const nameless = { email: 'nameless@example.com', password: 'nameless-password' }
    expect((await context.app.inject({ method: 'POST', url: '/auth/signup', payload: nameless })).statusCode).toBe(200)
    const answer = await context.app.inject({ method: 'POST', url: '/auth/login', payload: nameless })
    expect(answer.statusCode).toBe(200)
    expect(answer.json().user).not.toHaveProperty('full_name')
  })

  it.each([
    ['answers 500', { status: 500, body: { detail: 'boom' } }],
    ['refuses the token', { status: 401, body: { detail: 'Not authenticated' } }],
    ['drops the connection', { mode: 'drop' as const }],
    ['answers garbage', { mode: 'garbage' as const }]
  ])('a who-am-I that %s does not fail the password log-in: the session just has no full_name', async (_what, failure) => {
    const context = await setup({ profile })
    context.sim.inject({ upstream: whoAmIUpstream, path: exactPath(whoAmI.path), ...failure })
    const answer = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })

    expect(answer.statusCode).toBe(200)
    expect(answer.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    expect(answer.json().user).not.toHaveProperty('full_name')
    const cookie = sessionCookie(answer, context.config) as string
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json().user).toEqual({ id: answer.json().user.id, email: DEMO.email })
    expect(context.logs.join('')).toMatch(/who-am-I/)
  })

  it('the session list and a log-out still work for a session with a full name', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    expect((await context.app.inject({ method: 'GET', url: '/auth/sessions', headers: { cookie } })).json().sessions).toHaveLength(1)
    expect((await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })).statusCode).toBe(204)
  })
})

describe('session records and the full name', () => {
  const tokens = { authToken: 'a.b.c', authExpiresAt: 2, ejentoToken: 'd.e.f', ejentoExpiresAt: 3, obtainedAt: 1 }

  it('a record keeps the full name', () => {
    const record = { user: { id: 'u-1', email: 'demo@example.com', fullName: 'Demo User' }, tokens, createdAt: 1 }
    expect(parseRecord(serialiseRecord(record))?.user).toEqual({ id: 'u-1', email: 'demo@example.com', fullName: 'Demo User' })
  })

  it('a record written before full names existed is still read, without one', () => {
    const old = JSON.stringify({ u: { id: 'u-1', email: 'demo@example.com' }, t: ['a.b.c', 2, 'd.e.f', 3, 1], c: 1 })
    expect(parseRecord(old)).toEqual({ user: { id: 'u-1', email: 'demo@example.com' }, tokens, createdAt: 1 })
  })

  it('a stored name that is not text is dropped, not shown', () => {
    const odd = JSON.stringify({ u: { email: 'demo@example.com', fullName: { html: '<b>' } }, t: ['a.b.c', 2, 'd.e.f', 3, 1], c: 1 })
    expect(parseRecord(odd)?.user).toEqual({ email: 'demo@example.com' })
  })
})
