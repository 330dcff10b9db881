import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { ADMIN, DEMO, onCleanup, testConfig } from './helpers/app.js'
import { call, describeOnRedis, startInstance, testPrefix } from './helpers/redis.js'
import type { Instance, RedisDeployment } from './helpers/redis.js'

const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

interface Deployment {
  sim: Simulator
  /** Two instances; with the in-process store both are the same one. */
  a: Instance
  b: Instance
}

async function inProcess (): Promise<Deployment> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  const a = await startInstance(testConfig(sim, LIMITS))
  return { sim, a, b: a }
}

async function onRedis (redis: RedisDeployment): Promise<Deployment> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  const env = { ...LIMITS, ...redis.env(), REDIS_KEY_PREFIX: testPrefix(), SESSION_SECRET: randomBytes(32).toString('base64url') }
  return { sim, a: await startInstance(testConfig(sim, env)), b: await startInstance(testConfig(sim, env)) }
}

async function loginAs (instance: Instance, userAgent: string, credentials = DEMO): Promise<string> {
  const answer = await call(instance, 'POST', '/auth/login', { json: credentials, headers: { 'user-agent': userAgent } })
  if (answer.status !== 200 || answer.cookie === undefined) throw new Error(`log-in failed: ${answer.status} ${answer.text}`)
  return answer.cookie
}

interface Listed { handle: string, createdAt: string, lastSeenAt: string, device: string, address: string, current: boolean }

async function list (instance: Instance, cookie: string): Promise<Listed[]> {
  const answer = await call(instance, 'GET', '/auth/sessions', { cookie })
  expect(answer.status, answer.text).toBe(200)
  return (answer.json as { sessions: Listed[] }).sessions
}

async function works (instance: Instance, cookie: string): Promise<number> {
  return (await call(instance, 'POST', '/api/agents/1/chat-threads', { cookie, json: {} })).status
}

function sessionIdIn (cookie: string): string {
  return decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).split('.')[0] as string
}

describe('the user\'s sessions, on the in-process store', () => { behavesAsSessionManagement(inProcess) })
describeOnRedis('the user\'s sessions, two instances', (redis) => { behavesAsSessionManagement(async () => await onRedis(redis)) })

/** What every store does alike, with one instance (in-process) or two sharing Redis. */
function behavesAsSessionManagement (deploy: () => Promise<Deployment>): void {
  it('lists every session of the user, latest first, with device, coarse address and the current one marked; a handle is not a cookie', async () => {
    const { a, b } = await deploy()
    const laptop = await loginAs(a, FIREFOX)
    await new Promise((resolve) => setTimeout(resolve, 20)) // distinct last-seen times, for the order
    const phone = await loginAs(b, CHROME)
    await loginAs(a, CHROME, ADMIN) // someone else's session is never listed

    const seen = await list(b, phone)
    expect(seen).toHaveLength(2)
    expect(seen.map((session) => [session.device, session.current])).toEqual([['Chrome on Linux', true], ['Firefox on Windows', false]])
    for (const session of seen) {
      expect(session.address).toBe('127.0.0.0/24')
      expect(Date.parse(session.createdAt)).toBeLessThanOrEqual(Date.parse(session.lastSeenAt))
      expect(session.handle).toMatch(/^[A-Za-z0-9_-]{22}$/)
      for (const cookie of [laptop, phone]) {
        expect(cookie).not.toContain(session.handle)
        expect(session.handle).not.toBe(sessionIdIn(cookie))
      }
    }
    // The same list, the same handles, from the other instance and the other session.
    expect((await list(a, laptop)).map((session) => session.handle).sort()).toEqual(seen.map((session) => session.handle).sort())
    // A handle presented as a cookie is nobody.
    const cookieName = laptop.slice(0, laptop.indexOf('='))
    const forged = await call(a, 'GET', '/auth/session', { cookie: `${cookieName}=${seen[0]?.handle ?? ''}` })
    expect(forged.json).toEqual({ authenticated: false })
  })

  it('revokes one session everywhere: its next call is 401; another user\'s or an unknown handle is 404', async () => {
    const { a, b } = await deploy()
    const laptop = await loginAs(a, FIREFOX)
    const phone = await loginAs(b, CHROME)
    const admin = await loginAs(a, CHROME, ADMIN)
    const phoneHandle = (await list(a, laptop)).find((session) => !session.current)?.handle as string
    const adminHandle = (await list(a, admin))[0]?.handle as string

    for (const handle of [adminHandle, 'A'.repeat(22), 'x']) {
      const refused = await call(a, 'DELETE', `/auth/sessions/${handle}`, { cookie: laptop })
      expect(refused.status, handle).toBe(404)
      expect(refused.json).toMatchObject({ code: 'session_not_found' })
    }
    expect((await call(a, 'DELETE', '/auth/sessions/not%20a%20handle', { cookie: laptop })).status).toBe(400)
    expect(await works(b, admin)).toBe(201)

    const revoked = await call(a, 'DELETE', `/auth/sessions/${phoneHandle}`, { cookie: laptop })
    expect(revoked.status).toBe(204)
    for (const instance of [a, b]) {
      const answer = await call(instance, 'POST', '/api/agents/1/chat-threads', { cookie: phone, json: {} })
      expect(answer.status).toBe(401)
      expect(answer.json).toMatchObject({ code: 'not_authenticated' })
    }
    expect(await works(b, laptop)).toBe(201)
    expect((await list(b, laptop)).map((session) => session.current)).toEqual([true])
    const metrics = await call(a, 'GET', '/metrics')
    expect(metrics.text).toMatch(/^ejento_bff_sessions_ended_total\{reason="revoked"\} 1$/m)
    // Revoking it again: it is gone.
    expect((await call(a, 'DELETE', `/auth/sessions/${phoneHandle}`, { cookie: laptop })).status).toBe(404)
  })

  it('DELETE /auth/sessions and POST /auth/logout?scope=others end every other session and keep this one', async () => {
    const { a, b } = await deploy()
    const first = await loginAs(a, FIREFOX)
    const second = await loginAs(b, CHROME)
    const third = await loginAs(a, CHROME)
    const admin = await loginAs(b, CHROME, ADMIN)

    expect((await call(b, 'DELETE', '/auth/sessions', { cookie: first })).status).toBe(204)
    expect([await works(a, first), await works(b, second), await works(a, third), await works(b, admin)]).toEqual([201, 401, 401, 201])

    const fourth = await loginAs(b, FIREFOX)
    expect((await call(a, 'POST', '/auth/logout?scope=others', { cookie: fourth })).status).toBe(204)
    expect([await works(a, first), await works(b, fourth)]).toEqual([401, 201])
  })

  it('a password change ends the user\'s other sessions, renews this one\'s id, and says how many ended', async () => {
    const { a, b, sim } = await deploy()
    const user = { email: `pw-${randomBytes(4).toString('hex')}@example.com`, password: 'first-password-1' }
    expect((await call(a, 'POST', '/auth/signup', { json: user })).status).toBe(200)
    const stolen = await loginAs(a, FIREFOX, user)
    const other = await loginAs(b, CHROME, user)
    const mine = await loginAs(a, CHROME, user)

    const changed = await call(b, 'PATCH', '/api/users/me/password', { cookie: mine, json: { current_password: user.password, new_password: 'second-password-2' } })
    expect(changed.status, changed.text).toBe(200)
    expect(changed.json).toMatchObject({ ended_sessions: 2 })
    const renewed = changed.cookie as string
    expect(renewed).toBeDefined()
    expect(sessionIdIn(renewed)).not.toBe(sessionIdIn(mine))
    expect([await works(a, stolen), await works(b, other), await works(a, mine), await works(b, renewed)]).toEqual([401, 401, 401, 201])
    expect(sim.counter('login')).toBeGreaterThanOrEqual(3)
  })

  it('an admin who changes a user\'s password or email or deactivates them ends that user\'s sessions; other changes end none', async () => {
    const { a, b } = await deploy()
    const target = { email: `adm-${randomBytes(4).toString('hex')}@example.com`, password: 'target-password-1' }
    const created = await call(a, 'POST', '/auth/signup', { json: target })
    const targetId = String((created.json as { id: unknown }).id)
    const admin = await loginAs(a, CHROME, ADMIN)

    const sessions = [await loginAs(a, FIREFOX, target), await loginAs(b, CHROME, target)]
    const renamed = await call(b, 'PATCH', `/api/users/${targetId}`, { cookie: admin, json: { full_name: 'Just A Rename' } })
    expect(renamed.status, renamed.text).toBe(200)
    expect(renamed.json).not.toHaveProperty('ended_sessions')
    expect([await works(a, sessions[0] as string), await works(b, sessions[1] as string)]).toEqual([201, 201])

    const deactivated = await call(b, 'PATCH', `/api/users/${targetId}`, { cookie: admin, json: { is_active: false } })
    expect(deactivated.status, deactivated.text).toBe(200)
    expect(deactivated.json).toMatchObject({ ended_sessions: 2 })
    expect([await works(a, sessions[0] as string), await works(b, sessions[1] as string), await works(a, admin)]).toEqual([401, 401, 201])
  })
}

describe('session list bookkeeping', () => {
  it('an ordinary proxied call does not change the list (no write per request), and expired sessions leave the index', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const a = await startInstance(testConfig(sim, { ...LIMITS, SESSION_IDLE_TIMEOUT: '1s', SESSION_MAX_AGE: '1h' }))
    const cookie = await loginAs(a, FIREFOX)
    const before = await list(a, cookie)
    for (let index = 0; index < 5; index++) expect(await works(a, cookie)).toBe(201)
    // Touched at most once in 1/10 of the idle timeout: the last-seen time moves, nothing else.
    const after = await list(a, cookie)
    expect(after.map(({ handle, createdAt, device }) => ({ handle, createdAt, device }))).toEqual(before.map(({ handle, createdAt, device }) => ({ handle, createdAt, device })))
    await new Promise((resolve) => setTimeout(resolve, 1300))
    const fresh = await loginAs(a, CHROME)
    expect((await list(a, fresh)).map((session) => session.device)).toEqual(['Chrome on Linux'])
  })
})
