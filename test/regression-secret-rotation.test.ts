import { expect, it } from 'vitest'
import { request } from 'undici'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { waitFor, within } from './helpers/processes.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'
import { REDIS_URL, describeWithRedis, testPrefix } from './helpers/redis.js'

/**
 * Regression (issue 10, item 9): with r1 on `SESSION_SECRET=B,A` and r2 still on `A`, a
 * session used on r1 was re-signed with B and then refused by r2. A rotation now goes
 * `A` → `A,B` → `B,A` → `B`, each step rolled out to every instance before the next, and a
 * cookie is never re-signed. Each test runs two compiled servers on one Redis.
 */
const A = 'rotation-test-secret-A-0123456789abcdefghij'
const B = 'rotation-test-secret-B-0123456789abcdefghij'
const COOKIE_NAME = 'ejento_bff'
const CHAT_THREADS = '/api/agents/1/chat-threads'

interface Answer {
  status: number
  json: any
  /** The Set-Cookie lines of the answer. */
  setCookie: string[]
}

async function send (server: RealServer, method: 'GET' | 'POST', path: string, cookie: string): Promise<Answer> {
  const answer = await request(server.base + path, { method, headers: { cookie }, headersTimeout: 15_000, bodyTimeout: 15_000 })
  const text = await answer.body.text()
  const setCookie = answer.headers['set-cookie']
  return {
    status: answer.statusCode,
    json: text === '' ? undefined : JSON.parse(text),
    setCookie: setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]
  }
}

/** A simulator and a Redis prefix that every instance of the fleet shares. */
async function fleet (): Promise<{ sim: Simulator, start: (secrets: string[]) => Promise<RealServer> }> {
  // Strict rotation: after a refresh the old tokens are dead upstream, so a call only works
  // if the instance read the record the refresh wrote.
  const sim = await startSimulator({ strictRotation: true })
  onCleanup(sim.close)
  const prefix = testPrefix()
  return {
    sim,
    start: async (secrets) => {
      const server = await startRealServer(sim, { REDIS_URL, REDIS_KEY_PREFIX: prefix, SESSION_SECRET: secrets.join(',') })
      // As a load balancer would, send nothing before it is ready (its Redis connection is up).
      const ready = async (): Promise<boolean> => (await request(`${server.base}/readyz`)).statusCode === 200
      expect(await waitFor(ready, 15_000), 'the instance never became ready').toBe(true)
      return server
    }
  }
}

async function stop (server: RealServer): Promise<void> {
  server.child.kill('SIGTERM')
  const exit = await within(15_000, server.exited, 'a graceful stop')
  expect(exit.code).toBe(0)
}

/** The session is logged in on `server`, an upstream call with its tokens works, and no answer touches the cookie. */
async function expectServed (server: RealServer, cookie: string, label: string): Promise<void> {
  const session = await send(server, 'GET', '/auth/session', cookie)
  expect(session.json?.authenticated, `${label}: GET /auth/session answered ${session.status}`).toBe(true)
  const created = await send(server, 'POST', CHAT_THREADS, cookie)
  expect(created.status, `${label}: POST ${CHAT_THREADS}`).toBe(201)
  expect([...session.setCookie, ...created.setCookie], `${label}: the cookie was rewritten`).toEqual([])
}

async function expectRefreshed (server: RealServer, cookie: string, label: string): Promise<void> {
  expect((await send(server, 'POST', '/auth/refresh', cookie)).status, `${label}: POST /auth/refresh`).toBe(204)
}

async function expectLoggedOut (server: RealServer, cookie: string, label: string): Promise<void> {
  expect((await send(server, 'GET', '/auth/session', cookie)).json, label).toEqual({ authenticated: false })
}

describeWithRedis('regression: secret rotation in a mixed fleet (compiled servers, one Redis)', () => {
  it.each([
    ['phase 1: r1 on A,B while r2 is still on A', [A, B], [A]],
    ['phase 2: r1 on B,A while r2 is still on A,B', [B, A], [A, B]]
  ])('%s: sessions from either work on both, through refreshes written by either; log-out everywhere ends them all', async (_phase, r1Secrets, r2Secrets) => {
    const { sim, start } = await fleet()
    const r1 = await start(r1Secrets)
    const r2 = await start(r2Secrets)
    const sessions = { 'logged in on r1': await realLogin(r1.base), 'logged in on r2': await realLogin(r2.base) }

    for (const [name, cookie] of Object.entries(sessions)) {
      for (const [index, server] of [r2, r1, r2, r1].entries()) await expectServed(server, cookie, `${name}, call ${index + 1}`)
      await expectRefreshed(r1, cookie, `${name}, refreshed on r1`)
      await expectServed(r2, cookie, `${name}, on r2 after r1's refresh`)
      await expectServed(r1, cookie, `${name}, on r1 after its refresh`)
      await expectRefreshed(r2, cookie, `${name}, refreshed on r2`)
      await expectServed(r1, cookie, `${name}, on r1 after r2's refresh`)
      await expectServed(r2, cookie, `${name}, on r2 after its refresh`)
    }
    expect(sim.counter('refresh')).toBe(4)

    // r2 ends the sessions r1 indexed too, whichever secret named r1's index.
    expect((await send(r2, 'POST', '/auth/logout?scope=all', sessions['logged in on r1'])).status).toBe(204)
    for (const [name, cookie] of Object.entries(sessions)) {
      for (const server of [r1, r2]) await expectLoggedOut(server, cookie, `${name}, after log-out everywhere`)
    }
  }, 60_000)

  it('a whole rotation as rolling restarts (A, A,B, B,A): no session is ever logged out; B alone then keeps the sessions B signed', async () => {
    const { start } = await fleet()
    let r1 = await start([A])
    let r2 = await start([A])
    const cookies: Record<string, string> = { 'from the start': await realLogin(r1.base) }
    const everyoneServed = async (step: string): Promise<void> => {
      for (const [name, cookie] of Object.entries(cookies)) {
        for (const [label, server] of [['r1', r1], ['r2', r2]] as const) await expectServed(server, cookie, `${step}: ${name}, on ${label}`)
      }
    }

    const steps: Array<[string, 'r1' | 'r2', string[]]> = [
      ['r1 restarted on A,B', 'r1', [A, B]],
      ['r2 restarted on A,B', 'r2', [A, B]],
      ['r1 restarted on B,A', 'r1', [B, A]],
      ['r2 restarted on B,A', 'r2', [B, A]]
    ]
    for (const [step, which, secrets] of steps) {
      if (which === 'r1') {
        await stop(r1)
        r1 = await start(secrets)
      } else {
        await stop(r2)
        r2 = await start(secrets)
      }
      await everyoneServed(step)
      // A refresh written by the restarted instance, read by the other.
      await expectRefreshed(which === 'r1' ? r1 : r2, cookies['from the start'] as string, `${step}: refresh`)
      await everyoneServed(`${step}, after a refresh`)
      cookies[`logged in after "${step}"`] = await realLogin((which === 'r1' ? r1 : r2).base)
      await everyoneServed(`${step}, after a log-in`)
    }

    // Phase 3, after SESSION_MAX_AGE: sessions signed with B still work; by then none signed
    // with A would be alive, and one that were is simply logged out.
    await stop(r1)
    r1 = await start([B])
    for (const step of ['r1 restarted on B,A', 'r2 restarted on B,A']) await expectServed(r1, cookies[`logged in after "${step}"`] as string, `B alone: logged in after "${step}"`)
    await expectLoggedOut(r1, cookies['logged in after "r1 restarted on A,B"'] as string, 'B alone: a cookie A signed')
  }, 120_000)

  it('unsupported, as the README says: skipping phase 1 (r1 on B,A next to r2 still on A) logs out what r1 signs or refreshes', async () => {
    const { start } = await fleet()
    const r1 = await start([B, A])
    const r2 = await start([A])

    const signedByB = await realLogin(r1.base)
    const refused = await send(r2, 'GET', '/auth/session', signedByB)
    expect(refused.json).toEqual({ authenticated: false })
    // r2 has the browser drop the cookie: the session is lost on r1 as well.
    expect(refused.setCookie.some((line) => line.startsWith(`${COOKIE_NAME}=;`))).toBe(true)

    const signedByA = await realLogin(r2.base)
    await expectServed(r1, signedByA, 'a session r2 signed, on r1')
    await expectRefreshed(r1, signedByA, 'a session r2 signed, refreshed on r1')
    // r1 encrypted the refreshed record with B, which r2 cannot read.
    await expectLoggedOut(r2, signedByA, 'a session r1 refreshed, on r2')
  }, 60_000)
})
