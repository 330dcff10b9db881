import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { MemorySessionStore } from '../src/session/memory-store.js'
import type { SessionStore } from '../src/session/store.js'
import { DEMO, login, onCleanup, sessionCookie, setup, testConfig } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'

const HTTPS = { 'x-forwarded-proto': 'https' }
const SECRET_1 = 'first-session-secret-0123456789-abcdefgh'
const SECRET_2 = 'second-session-secret-0123456789-ijklmnop'

/** Every Set-Cookie header line of an answer. */
function setCookieLines (response: LightMyRequestResponse): string[] {
  const raw = response.headers['set-cookie']
  if (raw === undefined) return []
  return Array.isArray(raw) ? raw : [String(raw)]
}

/** The attributes of one Set-Cookie line, lower-cased names. */
function attributesOf (line: string): Map<string, string> {
  const [, ...parts] = line.split(';')
  return new Map(parts.map((part) => {
    const [name = '', ...value] = part.trim().split('=')
    return [name.toLowerCase(), value.join('=')]
  }))
}

/** A second app over the first one's simulator and the given store (another instance, or the same one after a restart). */
async function anotherApp (context: TestContext, store: SessionStore, env: Record<string, string>): Promise<FastifyInstance> {
  const config = testConfig(context.sim, env)
  const app = await buildApp({ config, store, logStream: { write: () => {} } })
  onCleanup(async () => { await app.close() })
  await app.ready()
  return app
}

/**
 * What a browser's cookie jar would send next, after applying an answer's Set-Cookie lines
 * for `name` in order: an empty value or an expiry in the past deletes the cookie.
 */
function jarAfter (current: string | undefined, response: LightMyRequestResponse, name: string): string | undefined {
  let jar = current
  for (const cookie of response.cookies) {
    if (cookie.name !== name) continue
    const expired = cookie.maxAge !== undefined ? cookie.maxAge <= 0 : cookie.expires !== undefined && cookie.expires.getTime() <= Date.now()
    jar = cookie.value === '' || expired ? undefined : `${cookie.name}=${cookie.value}`
  }
  return jar
}

describe('the session cookie', () => {
  it('is HttpOnly, SameSite=Lax, Path=/, has no Domain, and expires SESSION_MAX_AGE after log-in', async () => {
    const context = await setup({ env: { SESSION_MAX_AGE: '3h', SESSION_IDLE_TIMEOUT: '20m' } })
    const before = Date.now()
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(200)

    const lines = setCookieLines(response).filter((line) => line.startsWith(`${context.config.session.cookieName}=`))
    expect(lines).toHaveLength(1)
    const line = lines[0] as string
    const attributes = attributesOf(line)
    expect(attributes.has('httponly')).toBe(true)
    expect(attributes.get('samesite')).toBe('Lax')
    expect(attributes.get('path')).toBe('/')
    expect(attributes.has('domain')).toBe(false)
    const expires = Date.parse(attributes.get('expires') ?? '')
    expect(Math.abs(expires - (before + 3 * 3_600_000))).toBeLessThan(5_000)
  })

  it('with COOKIE_SECURE=false is named plainly and not Secure', async () => {
    const context = await setup({ env: { COOKIE_SECURE: 'false' } })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(200)
    expect(context.config.session.cookieName).toBe('ejento_bff')
    const lines = setCookieLines(response)
    expect(lines).toHaveLength(1)
    expect(lines[0]?.startsWith('ejento_bff=')).toBe(true)
    expect(attributesOf(lines[0] as string).has('secure')).toBe(false)
  })

  it('with COOKIE_SECURE=true behind a trusted TLS proxy is Secure and named with the __Host- prefix', async () => {
    const context = await setup({ env: { COOKIE_SECURE: 'true', TRUST_PROXY: 'true' } })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', headers: HTTPS, payload: DEMO })
    expect(response.statusCode).toBe(200)

    const lines = setCookieLines(response)
    expect(lines).toHaveLength(1)
    const line = lines[0] as string
    expect(line.startsWith('__Host-ejento_bff=')).toBe(true)
    const attributes = attributesOf(line)
    // What browsers demand of a __Host- cookie, plus the contract's own attributes.
    expect(attributes.has('secure')).toBe(true)
    expect(attributes.get('path')).toBe('/')
    expect(attributes.has('domain')).toBe(false)
    expect(attributes.has('httponly')).toBe(true)
    expect(attributes.get('samesite')).toBe('Lax')

    const cookie = sessionCookie(response, context.config) as string
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { ...HTTPS, cookie } })
    expect(session.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })

    // Clearing it only works in a browser with the same Secure and Path.
    const out = await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { ...HTTPS, cookie } })
    expect(out.statusCode).toBe(204)
    const clearing = setCookieLines(out).filter((candidate) => candidate.startsWith('__Host-ejento_bff='))
    expect(clearing.length).toBeGreaterThan(0)
    for (const candidate of clearing) {
      expect(attributesOf(candidate).has('secure')).toBe(true)
      expect(attributesOf(candidate).get('path')).toBe('/')
    }
  })

  it('with COOKIE_SECURE=true, every Set-Cookie of the __Host- cookie is Secure, also those clearing a stale cookie', async () => {
    const context = await setup({ env: { COOKIE_SECURE: 'true', TRUST_PROXY: 'true' } })
    const login = await context.app.inject({ method: 'POST', url: '/auth/login', headers: HTTPS, payload: DEMO })
    const cookie = sessionCookie(login, context.config) as string
    expect((await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { ...HTTPS, cookie } })).statusCode).toBe(204)

    // A browser still sending the ended cookie, or a damaged one.
    const answers = [
      await context.app.inject({ method: 'GET', url: '/auth/session', headers: { ...HTTPS, cookie } }),
      await context.app.inject({ method: 'GET', url: '/auth/session', headers: { ...HTTPS, cookie: `${cookie}x` } }),
      await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { ...HTTPS, cookie } })
    ]
    for (const answer of answers) {
      expect(answer.statusCode).toBeLessThan(300)
      // Browsers ignore a __Host- Set-Cookie without Secure, so such a line would never clear anything.
      for (const line of setCookieLines(answer).filter((candidate) => candidate.startsWith('__Host-ejento_bff='))) {
        expect(attributesOf(line).has('secure'), line).toBe(true)
        expect(attributesOf(line).get('path'), line).toBe('/')
      }
    }
  })

  it('with COOKIE_SECURE=true over plain HTTP refuses the log-in with 400 insecure_transport and never calls upstream', async () => {
    const context = await setup({ env: { COOKIE_SECURE: 'true' } })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(response.json()).toMatchObject({ status: 400, code: 'insecure_transport' })
    expect(setCookieLines(response)).toEqual([])
    expect(context.sim.requests).toHaveLength(0)
  })

  it('with COOKIE_SECURE=true does not believe X-Forwarded-Proto unless TRUST_PROXY is on', async () => {
    const context = await setup({ env: { COOKIE_SECURE: 'true', TRUST_PROXY: 'false' } })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', headers: HTTPS, payload: DEMO })
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('insecure_transport')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('holds an opaque signed id, never a token or a piece of one', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(200)
    const tokens = context.sim.state.issuedTokens
    expect(tokens).toHaveLength(2)

    const cookie = response.cookies.find((candidate) => candidate.name === context.config.session.cookieName)
    expect(cookie).toBeDefined()
    const value = decodeURIComponent(cookie?.value ?? '')
    const headerText = setCookieLines(response).join('\n')
    // A JWT's header part is the same for every token and says nothing; its claims and signature must not appear.
    const pieces = tokens.flatMap((token) => [token, ...token.split('.').slice(1)]).filter((piece) => piece.length >= 16)
    expect(pieces.length).toBeGreaterThanOrEqual(6)
    for (const piece of pieces) {
      expect(value).not.toContain(piece)
      expect(headerText).not.toContain(piece)
      expect(response.body).not.toContain(piece)
    }
    // The id and its signature: short, and nothing a JWT is made of.
    expect(value).toMatch(/^[A-Za-z0-9_-]{20,64}\.[A-Za-z0-9+/_=-]{20,100}$/)
    expect(value.length).toBeLessThan(200)
  })

  it('keeps working when SESSION_SECRET rotates to "new,old", and is anonymous (not an error) once the old secret is gone', async () => {
    const store = new MemorySessionStore({ maxCount: 1000 })
    const context = await setup({ env: { SESSION_SECRET: SECRET_1 }, store })
    const oldCookie = await login(context)

    const rotated = await anotherApp(context, store, { SESSION_SECRET: `${SECRET_2},${SECRET_1}` })
    const stillIn = await rotated.inject({ method: 'GET', url: '/auth/session', headers: { cookie: oldCookie } })
    expect(stillIn.statusCode).toBe(200)
    expect(stillIn.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })

    // A log-in under the rotated secrets is signed (and encrypted) with the new one.
    const newLogin = await rotated.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    const newCookie = sessionCookie(newLogin, context.config) as string
    expect(newCookie).toBeDefined()

    const retired = await anotherApp(context, store, { SESSION_SECRET: SECRET_2 })
    const oldAnswer = await retired.inject({ method: 'GET', url: '/auth/session', headers: { cookie: oldCookie } })
    expect(oldAnswer.statusCode).toBe(200)
    expect(oldAnswer.json()).toEqual({ authenticated: false })
    const oldOut = await retired.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: oldCookie } })
    expect(oldOut.statusCode).toBe(204)
    const newAnswer = await retired.inject({ method: 'GET', url: '/auth/session', headers: { cookie: newCookie } })
    expect(newAnswer.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
  })

  it('does not make the browser drop a session cookie signed with an older secret that is still listed', async () => {
    const store = new MemorySessionStore({ maxCount: 1000 })
    const context = await setup({ env: { SESSION_SECRET: SECRET_1 }, store })
    const name = context.config.session.cookieName
    let jar: string | undefined = await login(context)

    const rotated = await anotherApp(context, store, { SESSION_SECRET: `${SECRET_2},${SECRET_1}` })
    for (let request = 1; request <= 3; request += 1) {
      expect(jar, `cookie jar before request ${request}`).toBeDefined()
      const answer = await rotated.inject({ method: 'GET', url: '/auth/session', headers: { cookie: jar as string } })
      expect(answer.json().authenticated, `request ${request}`).toBe(true)
      jar = jarAfter(jar, answer, name)
    }
  })
})
