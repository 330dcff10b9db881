import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'
import { REDIS_URL, redisAvailable, testPrefix } from './helpers/redis.js'

/**
 * Regression (attack on issue 11): a password change renews the session's id, and the renewal
 * 1. copied the record the request had read before its call, so tokens refreshed during the call
 *    were lost: with a rotating upstream the renewed session died at its next refresh;
 * 2. brought back, under a new id, a session revoked while its password change was in flight;
 * 3. left no trace of the old id, so a request the browser had sent with it just before the
 *    new cookie arrived answered with a cleared cookie, which erased the new one.
 * And once the renewal was a compare-and-set: a second change sent with the same cookie ended
 * the first one's renewed session as "another session", then found its own gone.
 * On the compiled server: the in-process store, and two instances on Redis.
 */

const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }
const OWN_PASSWORD = '/api/users/me/password'

interface Deployment {
  sim: Simulator
  /** The instance that answers the password change. */
  a: RealServer
  /** Another instance on the same store (the same one in-process). */
  b: RealServer
}

async function inProcess (): Promise<Deployment> {
  const sim = await startSimulator({ strictRotation: true })
  onCleanup(sim.close)
  const a = await startRealServer(sim, LIMITS)
  return { sim, a, b: a }
}

async function onRedis (): Promise<Deployment> {
  const sim = await startSimulator({ strictRotation: true })
  onCleanup(sim.close)
  const env = { ...LIMITS, REDIS_URL, REDIS_KEY_PREFIX: testPrefix() }
  const [a, b] = await Promise.all([startRealServer(sim, env), startRealServer(sim, env)])
  // Listening comes before the Redis connection is up (commands fail fast until then).
  for (const server of [a, b]) expect(await waitFor(async () => (await fetch(`${server.base}/readyz`)).status === 200, 10_000)).toBe(true)
  return { sim, a, b }
}

interface Answer {
  status: number
  json: any
  text: string
  /** The session cookie's Set-Cookie lines, as a browser would apply them. */
  cookies: string[]
}

async function send (server: RealServer, method: string, path: string, options: { cookie?: string, json?: unknown } = {}): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (options.cookie !== undefined) headers.cookie = options.cookie
  if (options.json !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(server.base + path, { method, headers, ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }) })
  const text = await response.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: response.status, json, text, cookies: response.headers.getSetCookie() }
}

/** The `name=value` an answer set for the session (undefined when it set none, '' when it cleared it). */
function cookieSet (answer: Answer): string | undefined {
  const pair = answer.cookies.map((line) => line.split(';')[0] as string).at(-1)
  return pair === undefined ? undefined : pair.endsWith('=') ? '' : pair
}

async function newUser (server: RealServer): Promise<{ email: string, password: string }> {
  const user = { email: `renew-${randomBytes(4).toString('hex')}@example.com`, password: 'first-password-1' }
  const created = await send(server, 'POST', '/auth/signup', { json: user })
  expect(created.status, created.text).toBe(200)
  return user
}

async function logIn (server: RealServer, user: { email: string, password: string }): Promise<string> {
  const answer = await send(server, 'POST', '/auth/login', { json: user })
  const cookie = cookieSet(answer)
  if (answer.status !== 200 || cookie === undefined || cookie === '') throw new Error(`log-in failed: ${answer.status} ${answer.text}`)
  return cookie
}

async function changePassword (server: RealServer, cookie: string, user: { password: string }): Promise<Answer> {
  return await send(server, 'PATCH', OWN_PASSWORD, { cookie, json: { current_password: user.password, new_password: 'second-password-2' } })
}

const deployments = redisAvailable
  ? [['the in-process store', inProcess], ['Redis, two instances', onRedis]] as const
  : [['the in-process store', inProcess]] as const

describe.each(deployments)('regression: renewing the session id at a password change, on %s', (_name, deploy) => {
  it('keeps the tokens a refresh during the change stored: the renewed session goes on working', { timeout: 60_000 }, async () => {
    const { sim, a, b } = await deploy()
    const user = await newUser(a)
    const cookie = await logIn(a, user)
    // The upstream refuses the token once: the BFF refreshes (the old auth-app token is revoked) and retries.
    sim.inject({ upstream: 'auth', method: 'PATCH', path: OWN_PASSWORD, status: 403, body: { detail: 'Could not validate credentials' } })

    const changed = await changePassword(a, cookie, user)
    expect(changed.status, changed.text).toBe(200)
    expect(sim.counter('refresh')).toBe(1)
    const renewed = cookieSet(changed)
    expect(renewed).toMatch(/=./)

    // The auth-app token is used again; the revoked one would be refused and its refresh too.
    const users = await send(b, 'GET', '/api/users?skip=0&limit=1', { cookie: renewed as string })
    expect(users.status, users.text).toBe(200)
    expect(sim.counter('refresh_refused')).toBe(0)
    expect((await send(a, 'GET', '/auth/session', { cookie: renewed as string })).json).toMatchObject({ authenticated: true })
  })

  it('does not bring back a session that was revoked while its password change was on its way', { timeout: 60_000 }, async () => {
    const { sim, a, b } = await deploy()
    const user = await newUser(a)
    const stolen = await logIn(a, user)
    const owner = await logIn(b, user)
    const listed = await send(b, 'GET', '/auth/sessions', { cookie: owner })
    const stolenHandle = (listed.json.sessions as Array<{ handle: string, current: boolean }>).find((session) => !session.current)?.handle as string
    sim.inject({ upstream: 'auth', method: 'PATCH', path: OWN_PASSWORD, delayMs: 1500 })

    const change = changePassword(a, stolen, user)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await send(b, 'DELETE', `/auth/sessions/${stolenHandle}`, { cookie: owner })).status).toBe(204)
    const changed = await change

    // The change itself went through upstream; the revoked session stays ended under every id.
    expect(changed.status, changed.text).toBe(200)
    const renewed = cookieSet(changed)
    for (const cookie of [stolen, ...(renewed === undefined || renewed === '' ? [] : [renewed])]) {
      expect((await send(b, 'GET', '/auth/session', { cookie })).json).toEqual({ authenticated: false })
    }
    const fresh = await logIn(b, { email: user.email, password: 'second-password-2' })
    expect((await send(a, 'GET', '/auth/sessions', { cookie: fresh })).json.sessions).toHaveLength(1)
  })

  it('two changes sent at once with one cookie (a double click, both accepted upstream) leave that browser logged in', { timeout: 60_000 }, async () => {
    const { sim, a, b } = await deploy()
    const user = await newUser(a)
    const cookie = await logIn(a, user)
    const elsewhere = await logIn(b, user)
    sim.inject({ upstream: 'auth', method: 'PATCH', path: OWN_PASSWORD, status: 200, body: { message: 'Password updated successfully' }, delayMs: 500, times: 2 })

    const answers = await Promise.all([changePassword(a, cookie, user), changePassword(b, cookie, user)])
    expect(answers.map((answer) => answer.status)).toEqual([200, 200])
    // One of them moved the session; the other found it moved and kept it: whichever answer the
    // browser applies last, it holds a working cookie.
    const set = answers.map(cookieSet).filter((value) => value !== undefined)
    expect(set).toHaveLength(1)
    expect((await send(b, 'GET', '/auth/session', { cookie: set[0] as string })).json).toMatchObject({ authenticated: true })
    for (const old of [cookie, elsewhere]) expect((await send(a, 'GET', '/auth/session', { cookie: old })).json).toEqual({ authenticated: false })
  })

  it('a request sent with the old cookie and answered after the renewal does not clear the new cookie', { timeout: 60_000 }, async () => {
    const { a, b } = await deploy()
    const user = await newUser(a)
    const old = await logIn(a, user)

    const changed = await changePassword(a, old, user)
    expect(changed.status, changed.text).toBe(200)
    const renewed = cookieSet(changed) as string
    expect(renewed).toMatch(/=./)
    // Sent before the browser had the new cookie, answered after: a browser applies its
    // Set-Cookie last. The old id is over (401), but clearing would erase the new cookie.
    const late = await send(b, 'GET', '/api/users?skip=0&limit=1', { cookie: old })
    expect(late.status).toBe(401)
    expect(late.cookies).toEqual([])
    expect((await send(b, 'GET', '/auth/session', { cookie: renewed })).json).toMatchObject({ authenticated: true })

    // A cookie whose session was logged out (not moved to a new id) is still cleared.
    expect((await send(a, 'POST', '/auth/logout', { cookie: renewed })).status).toBe(204)
    expect(cookieSet(await send(b, 'GET', '/auth/session', { cookie: renewed }))).toBe('')
  })
})
