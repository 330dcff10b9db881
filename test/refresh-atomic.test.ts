import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { authorizationOf, createThread, login, sessionIdOf, setup, sleep } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import type { TestContext } from './helpers/app.js'

const CHAT_THREAD = /^\/api\/agent\/1\/chat-thread$/
const REFUSED = { success: false, message: 'Invalid or expired token' }

/** Polls until `condition` holds; fails after `timeoutMs`. */
async function until (condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  if (!await waitFor(condition, timeoutMs, 5)) throw new Error(`timed out waiting for ${what}`)
}

async function refreshNow (context: TestContext, cookie: string): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie } })
}

/** Every string a token could leak as: the token, and for a JWT its payload and signature. */
function secretForms (tokens: readonly string[]): string[] {
  return tokens.flatMap((token) => {
    const parts = token.split('.')
    return parts.length === 3 ? [token, parts[1] as string, parts[2] as string] : [token]
  })
}

function logEntries (context: TestContext): Array<Record<string, unknown>> {
  return context.logs.map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('refreshes are atomic: no stale copy overwrites fresher tokens, no refresh revives a logged-out session', () => {
  it('a log-out during a refresh wins: after both settle the session is logged out', async () => {
    const context = await setup({ sim: { strictRotation: true, refreshDelayMs: 300 } })
    const cookie = await login(context)
    const id = sessionIdOf(cookie)
    context.sim.expireTokens('ejento')
    await sleep(5)

    const inFlight = createThread(context, cookie)
    // The upstream has rotated the tokens and is holding its answer for 300 ms.
    await until(() => context.sim.counter('refresh') === 1, 'the upstream refresh to start')
    const logout = await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })
    expect(logout.statusCode).toBe(204)
    expect(await context.app.sessions.store.get(id)).toBeNull()

    const call = await inFlight
    // The call that triggered the refresh may fail; what matters is that it did not bring the session back.
    expect([201, 401]).toContain(call.statusCode)
    if (call.statusCode === 401) expect(['not_authenticated', 'session_expired']).toContain(call.json().code)
    await sleep(100)

    expect(await context.app.sessions.store.get(id)).toBeNull()
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json()).toEqual({ authenticated: false })
    const after = await createThread(context, cookie)
    expect(after.statusCode).toBe(401)
    expect(after.json().code).toBe('not_authenticated')
    const refreshAfter = await refreshNow(context, cookie)
    expect(refreshAfter.statusCode).toBe(401)
    expect(context.sim.counter('refresh')).toBe(1)
  })

  it('a request that loaded the session before two refreshes neither refreshes with nor writes back its stale tokens', async () => {
    const context = await setup({ sim: { strictRotation: true } })
    const cookie = await login(context)
    const id = sessionIdOf(cookie)
    // Request A: its first upstream call is held for a while, then refused as if its token had died.
    context.sim.inject({ upstream: 'api', method: 'POST', path: CHAT_THREAD, delayMs: 1000, status: 401, body: REFUSED })

    const requestA = createThread(context, cookie)
    await until(() => context.sim.requestsTo('api', CHAT_THREAD).length === 1, 'request A to reach the upstream')

    // Meanwhile two refreshes, one after the other, each rotating the pair.
    expect((await refreshNow(context, cookie)).statusCode).toBe(204)
    expect((await refreshNow(context, cookie)).statusCode).toBe(204)
    expect(context.sim.counter('refresh')).toBe(2)
    const issued = context.sim.state.issuedTokens
    expect(issued).toHaveLength(6)
    const refreshCalls = context.sim.requestsTo('auth', /refresh-access-token$/)
    expect(refreshCalls.map(authorizationOf)).toEqual([`Bearer ${issued[0]}`, `Bearer ${issued[2]}`])
    const versionBeforeA = (await context.app.sessions.store.get(id))?.version

    const answerA = await requestA

    // A's refresh (with its stale, revoked auth-app token) was not sent: the newer stored pair was reused.
    expect(answerA.statusCode).toBe(201)
    expect(context.sim.counter('refresh')).toBe(2)
    expect(context.sim.counter('refresh_refused')).toBe(0)
    expect(context.sim.requestsTo('auth', /refresh-access-token$/)).toHaveLength(2)
    const callsOfA = context.sim.requestsTo('api', CHAT_THREAD)
    expect(callsOfA).toHaveLength(2)
    expect(authorizationOf(callsOfA[0])).toBe(`Bearer ${issued[1]}`)
    expect(authorizationOf(callsOfA[1])).toBe(`Bearer ${issued[5]}`)
    expect(context.logs.some((line) => line.includes('"msg":"token refresh reused"'))).toBe(true)

    // A wrote nothing back: the store still holds the newest pair, at the same version.
    const stored = await context.app.sessions.store.get(id)
    expect(stored?.version).toBe(versionBeforeA)
    const loaded = await context.app.sessions.load(id)
    expect(loaded?.record.tokens.authToken).toBe(issued[4])
    expect(loaded?.record.tokens.ejentoToken).toBe(issued[5])

    // And later calls carry the newest tokens, with no further refresh.
    expect((await createThread(context, cookie)).statusCode).toBe(201)
    const users = await context.app.inject({ method: 'GET', url: '/api/users', headers: { cookie } })
    expect(users.statusCode).toBe(200)
    expect(authorizationOf(context.sim.requestsTo('api', CHAT_THREAD).at(-1))).toBe(`Bearer ${issued[5]}`)
    expect(authorizationOf(context.sim.requestsTo('auth', /^\/api\/users\/$/).at(-1))).toBe(`Bearer ${issued[4]}`)
    expect(context.sim.counter('refresh')).toBe(2)
    expect(context.sim.counter('ejento_token_rejected')).toBe(0)
    expect(context.sim.counter('auth_token_rejected')).toBe(0)
  })

  it('a refresh then an API call: the upstream gets the newest token, in the order they were issued', async () => {
    const context = await setup({ sim: { strictRotation: true } })
    const cookie = await login(context)

    expect((await refreshNow(context, cookie)).statusCode).toBe(204)
    expect((await createThread(context, cookie)).statusCode).toBe(201)
    expect((await refreshNow(context, cookie)).statusCode).toBe(204)
    expect((await createThread(context, cookie)).statusCode).toBe(201)

    const issued = context.sim.state.issuedTokens
    expect(issued).toHaveLength(6)
    expect(context.sim.requestsTo('api', CHAT_THREAD).map(authorizationOf)).toEqual([`Bearer ${issued[3]}`, `Bearer ${issued[5]}`])
    expect(context.sim.requestsTo('auth', /refresh-access-token$/).map(authorizationOf)).toEqual([`Bearer ${issued[0]}`, `Bearer ${issued[2]}`])
    expect(context.sim.counter('refresh_refused')).toBe(0)
  })

  it('a refresh writes a higher version of the encrypted record, which holds no token', async () => {
    const context = await setup()
    const cookie = await login(context)
    const id = sessionIdOf(cookie)
    const before = await context.app.sessions.store.get(id)
    expect(before).not.toBeNull()

    expect((await refreshNow(context, cookie)).statusCode).toBe(204)

    const after = await context.app.sessions.store.get(id)
    expect(after).not.toBeNull()
    expect(after?.version).toBeGreaterThan(before?.version ?? Infinity)
    expect(after?.data).not.toBe(before?.data)
    const issued = context.sim.state.issuedTokens
    expect(issued).toHaveLength(4)
    for (const stored of [before?.data ?? '', after?.data ?? '']) {
      for (const secret of secretForms(issued)) expect(stored.includes(secret)).toBe(false)
    }
    // Decrypted, it holds the new pair.
    const loaded = await context.app.sessions.load(id)
    expect(loaded?.version).toBe(after?.version)
    expect(loaded?.record.tokens.authToken).toBe(issued[2])
    expect(loaded?.record.tokens.ejentoToken).toBe(issued[3])
  })

  it('logs every refresh outcome, and no log line holds a token', async () => {
    const context = await setup({ sim: { strictRotation: true } })
    const cookie = await login(context)

    // refreshed
    expect((await refreshNow(context, cookie)).statusCode).toBe(204)
    // reused: a request that read the session before a refresh finished, then had its token refused
    context.sim.inject({ upstream: 'api', method: 'POST', path: CHAT_THREAD, delayMs: 1000, status: 401, body: REFUSED })
    const stale = createThread(context, cookie)
    await until(() => context.sim.requestsTo('api', CHAT_THREAD).length === 1, 'the stale request to reach the upstream')
    expect((await refreshNow(context, cookie)).statusCode).toBe(204)
    expect((await stale).statusCode).toBe(201)
    // failed
    context.sim.inject({ upstream: 'auth', method: 'POST', path: '/api/users/refresh-access-token', status: 500, body: { detail: 'Internal Server Error' } })
    expect((await refreshNow(context, cookie)).statusCode).toBe(502)
    // refused
    context.sim.expireTokens('all')
    const refused = await refreshNow(context, cookie)
    expect(refused.statusCode).toBe(401)
    expect(refused.json().code).toBe('session_expired')

    const entries = logEntries(context)
    const outcomes = entries.filter((entry) => typeof entry.refresh === 'string')
    expect(outcomes.map((entry) => entry.msg)).toEqual([
      'token refresh refreshed',
      'token refresh refreshed',
      'token refresh reused',
      'token refresh failed',
      'token refresh refused'
    ])
    const [refreshed, , reused, failed, refusedEntry] = outcomes
    expect(refreshed).toMatchObject({ level: 30, refresh: 'refreshed' })
    expect(reused).toMatchObject({ level: 30, refresh: 'reused' })
    expect(failed).toMatchObject({ level: 40, refresh: 'failed', upstreamStatus: 500 })
    expect(refusedEntry).toMatchObject({ level: 30, refresh: 'refused', upstreamStatus: 403 })
    // Each is tied to the request that caused it.
    for (const entry of outcomes) expect(entry.reqId).toEqual(expect.any(String))

    const issued = context.sim.state.issuedTokens
    expect(issued.length).toBeGreaterThanOrEqual(6)
    const leaks = context.logs.filter((line) => secretForms(issued).some((secret) => line.includes(secret)))
    expect(leaks).toEqual([])
  })
})
