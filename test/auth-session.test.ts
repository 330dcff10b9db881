import { setTimeout as sleep } from 'node:timers/promises'
import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { ADMIN, DEMO, login, onCleanup, secretsIn, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { startSimulator } from '../src/simulator/index.js'
import { PROFILES } from './helpers/profiles.js'

async function sessionOf (context: TestContext, cookie?: string): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: 'GET', url: '/auth/session', headers: cookie === undefined ? {} : { cookie } })
}

async function logout (context: TestContext, cookie?: string, query = ''): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: 'POST', url: `/auth/logout${query}`, headers: cookie === undefined ? {} : { cookie } })
}

async function isAuthenticated (context: TestContext, cookie: string): Promise<boolean> {
  const response = await sessionOf(context, cookie)
  expect(response.statusCode).toBe(200)
  return response.json().authenticated as boolean
}

/** `name=value` with one character of the value replaced at `index` (by a different one). */
function withCharChanged (cookie: string, index: number): string {
  const separator = cookie.indexOf('=')
  const name = cookie.slice(0, separator)
  const value = cookie.slice(separator + 1)
  const replacement = value[index] === 'A' ? 'B' : 'A'
  return `${name}=${value.slice(0, index)}${replacement}${value.slice(index + 1)}`
}

function expectClearingCookie (response: LightMyRequestResponse, cookieName: string): void {
  const cleared = response.cookies.filter((cookie) => cookie.name === cookieName)
  expect(cleared.length).toBeGreaterThan(0)
  for (const cookie of cleared) {
    expect(cookie.value).toBe('')
    const expired = cookie.maxAge === 0 || (cookie.expires !== undefined && cookie.expires.getTime() <= Date.now())
    expect(expired).toBe(true)
  }
}

describe.each(PROFILES)('GET /auth/session and POST /auth/logout on %s', (_name, profile) => {
  it('answers who is logged in and until when, never later than SESSION_MAX_AGE after log-in', async () => {
    const context = await setup({ profile, env: { SESSION_IDLE_TIMEOUT: '30m', SESSION_MAX_AGE: '2h' } })
    const before = Date.now()
    const cookie = await login(context)
    const after = Date.now()
    const response = await sessionOf(context, cookie)

    expect(response.statusCode).toBe(200)
    const body = response.json()
    const simUser = context.sim.state.userByEmail(DEMO.email)
    expect(body).toEqual({ authenticated: true, user: { email: DEMO.email, id: simUser?.id, full_name: 'Demo User' }, expiresAt: expect.any(String) })
    expect(body.expiresAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/)
    const expiresAt = Date.parse(body.expiresAt)
    expect(expiresAt).toBeGreaterThan(Date.now())
    expect(expiresAt).toBeLessThanOrEqual(after + 2 * 3_600_000)
    // Unused for 30 minutes it ends: the idle expiry comes first here.
    expect(expiresAt).toBeGreaterThanOrEqual(before + 30 * 60_000 - 1_000)
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 30 * 60_000 + 1_000)
    expect(secretsIn(response.body, context.sim.state.issuedTokens)).toEqual([])
  })

  it('answers 204, clears the cookie and ends the session server-side, so a replayed cookie is anonymous', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    expect(await isAuthenticated(context, cookie)).toBe(true)

    const response = await logout(context, cookie)
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')
    expectClearingCookie(response, context.config.session.cookieName)
    const clearing = response.cookies.find((candidate) => candidate.name === context.config.session.cookieName)
    expect(clearing?.path).toBe('/')

    // The browser would drop the cookie; an attacker who kept a copy replays it.
    const replay = await sessionOf(context, cookie)
    expect(replay.statusCode).toBe(200)
    expect(replay.json()).toEqual({ authenticated: false })
  })

  it('with ?scope=all ends every session of that user, and no one else\'s', async () => {
    const context = await setup({ profile })
    const laptop = await login(context)
    const phone = await login(context)
    const admin = await login(context, ADMIN)
    expect(laptop).not.toBe(phone)
    for (const cookie of [laptop, phone, admin]) expect(await isAuthenticated(context, cookie)).toBe(true)

    const response = await logout(context, phone, '?scope=all')
    expect(response.statusCode).toBe(204)
    expectClearingCookie(response, context.config.session.cookieName)
    expect(await isAuthenticated(context, laptop)).toBe(false)
    expect(await isAuthenticated(context, phone)).toBe(false)
    const adminSession = await sessionOf(context, admin)
    expect(adminSession.json()).toMatchObject({ authenticated: true, user: { email: ADMIN.email } })

    // The user can log in again afterwards.
    const fresh = await login(context)
    expect(await isAuthenticated(context, fresh)).toBe(true)
  })
})

// The session layer itself (cookies, log-out scopes, lifetimes) is one code for both profiles: run once, on the guide.
describe('GET /auth/session', () => {
  it('answers 200 {authenticated: false} without a cookie, and sets none', async () => {
    const context = await setup()
    const response = await sessionOf(context)
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ authenticated: false })
    expect(response.headers['set-cookie']).toBeUndefined()
  })

  it('never reports an expiry past SESSION_MAX_AGE, even when the idle timeout is as long', async () => {
    const context = await setup({ env: { SESSION_IDLE_TIMEOUT: '1h', SESSION_MAX_AGE: '1h' } })
    const cookie = await login(context)
    const after = Date.now()
    const expiresAt = Date.parse((await sessionOf(context, cookie)).json().expiresAt)
    expect(expiresAt).toBeGreaterThan(Date.now())
    expect(expiresAt).toBeLessThanOrEqual(after + 3_600_000)
  })

  it('treats tampered or garbage cookies as anonymous with 200, never a 5xx, and keeps the real session alive', async () => {
    const context = await setup()
    const cookie = await login(context)
    const name = context.config.session.cookieName
    const value = cookie.slice(name.length + 1)
    const dot = value.lastIndexOf('.')
    expect(dot).toBeGreaterThan(0)

    const forgeries = [
      withCharChanged(cookie, dot + 1), // the signature
      withCharChanged(cookie, value.length - 2), // the signature, near its end
      withCharChanged(cookie, 0), // the id
      withCharChanged(cookie, dot - 1), // the id, near its end
      `${name}=${value.slice(0, dot)}`, // the id without a signature
      `${name}=${value.slice(0, dot)}.`, // an empty signature
      `${name}=${value}${value}`,
      `${name}=garbage`,
      `${name}=%E0%A4%A`,
      `${name}=a.b.c`,
      `${name}=${'x'.repeat(3000)}`,
      `${name}=`
    ]
    for (const forged of forgeries) {
      if (forged === cookie) continue
      const response = await sessionOf(context, forged)
      expect(response.statusCode, forged).toBe(200)
      expect(response.json(), forged).toEqual({ authenticated: false })
      const out = await logout(context, forged)
      expect(out.statusCode, forged).toBe(204)
    }
    // None of the forgeries ended (or reached) the real session.
    expect(await isAuthenticated(context, cookie)).toBe(true)
  })
})

describe('POST /auth/logout', () => {
  it('is idempotent: 204 again without a session and with the old cookie', async () => {
    const context = await setup()
    const cookie = await login(context)
    expect((await logout(context, cookie)).statusCode).toBe(204)

    const again = await logout(context, cookie)
    expect(again.statusCode).toBe(204)
    expectClearingCookie(again, context.config.session.cookieName)
    const anonymous = await logout(context)
    expect(anonymous.statusCode).toBe(204)
    expectClearingCookie(anonymous, context.config.session.cookieName)
    const everywhere = await logout(context, undefined, '?scope=all')
    expect(everywhere.statusCode).toBe(204)
    expect(await isAuthenticated(context, cookie)).toBe(false)
  })

  it('ends only the session it was called with by default (and with scope=session)', async () => {
    const context = await setup()
    const first = await login(context)
    const second = await login(context)
    const third = await login(context)
    expect((await logout(context, first)).statusCode).toBe(204)
    expect(await isAuthenticated(context, first)).toBe(false)
    expect(await isAuthenticated(context, second)).toBe(true)
    expect((await logout(context, second, '?scope=session')).statusCode).toBe(204)
    expect(await isAuthenticated(context, second)).toBe(false)
    expect(await isAuthenticated(context, third)).toBe(true)
  })

  // A cache-buster (`?_=123`) or a stray parameter answered 400 and left the session alive.
  it('regression: always ends the session, whatever the query or body', async () => {
    const context = await setup({ env: { AUTH_RATE_LIMIT_PER_IP: '100', AUTH_RATE_LIMIT_PER_ACCOUNT: '100' } })
    const requests = [
      { query: '?_=1733000000000' },
      { query: '?scope=everything' },
      { query: '?scope=' },
      { query: '?scope=ALL' },
      { query: '?foo[bar]=1&scope' },
      { query: '', body: '{"not json', type: 'application/json' },
      { query: '', body: 'x'.repeat(10_000), type: 'text/plain' },
      { query: '', body: '<xml/>', type: 'application/xml' }
    ]
    for (const { query, body, type } of requests) {
      const cookie = await login(context)
      const other = await login(context)
      const response = await context.app.inject({ method: 'POST', url: `/auth/logout${query}`, headers: { cookie, ...(type === undefined ? {} : { 'content-type': type }) }, ...(body === undefined ? {} : { payload: body }) })
      expect(response.statusCode, `${query} ${type ?? ''}`).toBe(204)
      expect(await isAuthenticated(context, cookie), query).toBe(false)
      // Only the session that logged out: the scope was not `all`.
      expect(await isAuthenticated(context, other), query).toBe(true)
    }
  })

  it('regression: on the compiled server too, a cache-buster log-out ends the session', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const server = await startRealServer(sim)
    const cookie = await realLogin(server.base)
    const out = await fetch(`${server.base}/auth/logout?_=123&scope=bogus`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{oops' })
    expect(out.status).toBe(204)
    expect(out.headers.getSetCookie().join()).toMatch(/Expires=Thu, 01 Jan 1970/)
    const after = await fetch(`${server.base}/auth/session`, { headers: { cookie } })
    expect(await after.json()).toEqual({ authenticated: false })
  })

  it('ends every session of the user when any scope value is all', async () => {
    const context = await setup()
    const cookie = await login(context)
    const other = await login(context)
    expect((await logout(context, cookie, '?scope=session&scope=all&_=1')).statusCode).toBe(204)
    expect(await isAuthenticated(context, cookie)).toBe(false)
    expect(await isAuthenticated(context, other)).toBe(false)
  })
})

describe('session lifetimes', () => {
  it('ends a session left unused for longer than SESSION_IDLE_TIMEOUT', async () => {
    const context = await setup({ env: { SESSION_IDLE_TIMEOUT: '1s', SESSION_MAX_AGE: '1h' } })
    const cookie = await login(context)
    const response = await sessionOf(context, cookie)
    expect(response.json().authenticated).toBe(true)
    expect(Date.parse(response.json().expiresAt)).toBeLessThanOrEqual(Date.now() + 1_000)

    await sleep(1_600)
    const later = await sessionOf(context, cookie)
    expect(later.statusCode).toBe(200)
    expect(later.json()).toEqual({ authenticated: false })
  })

  it('keeps a used session past the idle timeout, but ends it at SESSION_MAX_AGE however much it is used', async () => {
    // Real time, with a 1 s idle timeout and a 2 s absolute lifetime, used every 300 ms. A busy
    // machine can stretch a pause between two uses past the idle timeout, which then rightly ends
    // the session: so each use is only required to find it alive when the timing proves it must
    // be, and a run whose pauses were stretched too far to prove anything is tried again.
    const context = await setup({ env: { SESSION_IDLE_TIMEOUT: '1s', SESSION_MAX_AGE: '2s' } })
    let outlivedIdleTimeout = false
    let endedByMaxAge = false
    for (let attempt = 1; attempt <= 3 && !(outlivedIdleTimeout && endedByMaxAge); attempt++) {
      const loginStartedAt = Date.now()
      const cookie = await login(context)
      // The session was created between loginStartedAt and loggedInAt.
      const loggedInAt = Date.now()
      // A use extends the session to at least 900 ms after it (touches are due 100 ms apart).
      let lastAliveAt = loginStartedAt
      outlivedIdleTimeout = false
      endedByMaxAge = false
      for (const at of [300, 600, 900, 1_200, 1_500, 1_800, 2_100]) {
        await sleep(Math.max(0, loggedInAt + at - Date.now()))
        const sentAt = Date.now()
        const response = await sessionOf(context, cookie)
        const answeredAt = Date.now()
        expect(response.statusCode).toBe(200)
        const alive = response.json().authenticated === true
        if (sentAt > loggedInAt + 2_000) {
          // Past the absolute lifetime however it was used...
          expect(alive, `${sentAt - loggedInAt} ms after log-in`).toBe(false)
          // ...and it was ended by that, not by the idle timeout, when it was used less than 900 ms before.
          endedByMaxAge = answeredAt < lastAliveAt + 900
          break
        }
        if (answeredAt < lastAliveAt + 900 && answeredAt < loginStartedAt + 2_000) {
          expect(alive, `${sentAt - loggedInAt} ms after log-in, ${answeredAt - lastAliveAt} ms after its last use`).toBe(true)
        }
        // A pause stretched past the idle timeout ended it: this attempt proves nothing more.
        if (!alive) break
        expect(Date.parse(response.json().expiresAt)).toBeLessThanOrEqual(loggedInAt + 2_000)
        // Unused, it would have ended 1 s after it was created.
        if (sentAt > loggedInAt + 1_000) outlivedIdleTimeout = true
        lastAliveAt = sentAt
      }
    }
    // Used every 300 ms, it outlived the 1 s idle timeout...
    expect(outlivedIdleTimeout, 'the session was seen alive past the idle timeout').toBe(true)
    // ...but the absolute lifetime ended it although it was used well within the idle timeout.
    expect(endedByMaxAge, 'the session was ended by SESSION_MAX_AGE while in use').toBe(true)
  })
})
