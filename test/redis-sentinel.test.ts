import { randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { DEMO, onCleanup } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { directClient, sessionRecords } from './helpers/redis-process.js'
import { startSentinelSet } from './helpers/redis-sentinel.js'
import { makeCertificates } from './helpers/redis-tls.js'

const CHAT_THREADS = '/api/agents/1/chat-threads'
const PREFIX = 'sentinel-test:'
// Log-ins go on through the fail-over: the per-address limit must not be what answers.
const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '100000', AUTH_RATE_LIMIT_PER_ACCOUNT: '100000' }

interface Outcome {
  at: number
  what: string
  status: number
  code: string | undefined
  retryAfter: string | null
  cookie?: string
}

async function simulator (): Promise<Simulator> {
  // Strict rotation (the default, said here): a refresh revokes the old auth-app token, so a
  // session whose fresh tokens were lost cannot refresh again.
  const sim = await startSimulator({ strictRotation: true })
  onCleanup(sim.close)
  return sim
}

async function send (base: string, method: string, path: string, options: { cookie?: string, json?: unknown } = {}): Promise<Outcome> {
  const headers: Record<string, string> = {}
  if (options.cookie !== undefined) headers.cookie = options.cookie
  if (options.json !== undefined) headers['content-type'] = 'application/json'
  const answer = await fetch(base + path, { method, headers, ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }) })
  const text = await answer.text()
  let code: string | undefined
  try { code = (JSON.parse(text) as { code?: string }).code } catch {}
  const cookie = answer.headers.getSetCookie().map((line) => line.split(';')[0] as string).findLast((pair) => !pair.endsWith('='))
  return { at: Date.now(), what: `${method} ${path}`, status: answer.status, code, retryAfter: answer.headers.get('retry-after'), ...(cookie === undefined ? {} : { cookie }) }
}

async function ready (server: RealServer): Promise<boolean> {
  return (await fetch(`${server.base}/readyz`).then(async (answer) => { await answer.arrayBuffer(); return answer.status }, () => 0)) === 200
}

async function expectWorking (servers: RealServer[], cookie: string, what: string): Promise<void> {
  for (const server of servers) {
    const session = await send(server.base, 'GET', '/auth/session', { cookie })
    expect(session.status, `${what}: session on ${server.base}`).toBe(200)
    const call = await send(server.base, 'POST', CHAT_THREADS, { cookie })
    expect(call.status, `${what}: call on ${server.base} (${String(call.code)})`).toBe(201)
  }
}

/** A request that got anything but success or 503 store_unavailable with Retry-After. */
function unexpected (outcome: Outcome): boolean {
  if (outcome.status < 300) return false
  return !(outcome.status === 503 && outcome.code === 'store_unavailable' && outcome.retryAfter !== null)
}

describeWithRedisServer('Redis under Sentinel (REDIS_SENTINELS)', () => {
  it('the primary SIGKILLed under a stream of requests: only successes and 503 store_unavailable, service back by itself on the promoted replica, no session lost (one refreshed just before the kill)', { timeout: 90_000 }, async () => {
    const set = await startSentinelSet({ downAfterMs: 1000, failoverTimeoutMs: 1500 })
    const sim = await simulator()
    const env = { ...set.env, ...LIMITS, REDIS_KEY_PREFIX: PREFIX }
    const a = await startRealServer(sim, env)
    const b = await startRealServer(sim, env)
    expect(await waitFor(async () => (await ready(a)) && (await ready(b)), 15_000, 100)).toBe(true)
    expect(a.logs().find((line) => line.msg === 'Redis connection ready')).toMatchObject({ redis: `sentinel master "bff-sessions" via ${set.env.REDIS_SENTINELS ?? ''}`, server: `127.0.0.1:${set.primary.port}` })

    const sessions: string[] = []
    for (let index = 0; index < 6; index++) sessions.push(await realLogin((index % 2 === 0 ? a : b).base))

    // The stream: reads and upstream calls with every session on both instances, and log-ins.
    const outcomes: Outcome[] = []
    const control = { streaming: true }
    const reader = async (offset: number): Promise<void> => {
      for (let turn = offset; control.streaming; turn += 3) {
        const server = turn % 2 === 0 ? a : b
        const cookie = sessions[turn % sessions.length] as string
        outcomes.push(await send(server.base, turn % 3 === 0 ? 'GET' : 'POST', turn % 3 === 0 ? '/auth/session' : CHAT_THREADS, { cookie }).catch((error: unknown) => ({ at: Date.now(), what: String(error), status: 0, code: undefined, retryAfter: null })))
      }
    }
    const loggingIn = async (): Promise<void> => {
      for (let turn = 0; control.streaming; turn++) {
        outcomes.push(await send((turn % 2 === 0 ? a : b).base, 'POST', '/auth/login', { json: DEMO }))
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    const stream = Promise.all([reader(0), reader(1), reader(2), loggingIn()])
    await new Promise((resolve) => setTimeout(resolve, 500))

    // A refresh a moment before the kill: its answer means its tokens are on the replica too.
    const refreshed = await send(a.base, 'POST', '/auth/refresh', { cookie: sessions[0] as string })
    expect(refreshed.status).toBeLessThan(300)
    await set.primary.kill('SIGKILL')
    const killedAt = Date.now()

    await set.waitForPrimary(set.replica.port, 30_000)
    const promotedAt = Date.now()
    expect(await waitFor(async () => (await ready(a)) && (await ready(b)), 15_000, 50), `not ready after the promotion: ${[a, b].map((server) => server.stdout().split('\n').filter((line) => line.includes('Redis')).slice(-5).join('\n')).join('\n')}`).toBe(true)
    // Service resumes by itself: the stream runs on for a while after the promotion.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    control.streaming = false
    await stream

    expect(outcomes.filter(unexpected), 'answers other than success or 503 store_unavailable with Retry-After').toEqual([])
    const failures = outcomes.filter((outcome) => outcome.status === 503)
    const lastFailure = Math.max(killedAt, ...failures.map((outcome) => outcome.at))
    // The 503s stop once the promotion is known, and the stream succeeds on both instances after it.
    expect(lastFailure - promotedAt).toBeLessThan(3000)
    const after = outcomes.filter((outcome) => outcome.at > lastFailure)
    expect(after.length).toBeGreaterThan(10)
    expect(after.every((outcome) => outcome.status < 300)).toBe(true)
    console.info(`sentinel fail-over: ${outcomes.length} requests, ${failures.length} answered 503 store_unavailable, from the kill to the promotion ${promotedAt - killedAt} ms, to the last 503 ${lastFailure - killedAt} ms`)

    // Every session works on the new primary, on both instances: those logged in before, the
    // one refreshed just before the kill, and every log-in the stream saw succeed.
    const loggedIn = outcomes.filter((outcome) => outcome.what === 'POST /auth/login' && outcome.status === 200).map((outcome) => outcome.cookie as string)
    expect(loggedIn.length).toBeGreaterThan(5)
    for (const [index, cookie] of [...sessions, ...loggedIn].entries()) await expectWorking([a, b], cookie, `session ${index}`)
    // Refreshing again proves the stored tokens are the newest: strict rotation revoked the ones before.
    for (const [index, cookie] of sessions.entries()) {
      const again = await send(index % 2 === 0 ? b.base : a.base, 'POST', '/auth/refresh', { cookie })
      expect(again.status, `refresh of session ${index}: ${String(again.code)}`).toBeLessThan(300)
    }
    expect(sim.counter('refresh_refused')).toBe(0)
    const promoted = directClient({ port: set.replica.port })
    expect(await promoted.role().then((role) => role[0])).toBe('master')
    expect((await sessionRecords(promoted, PREFIX)).size).toBeGreaterThanOrEqual(sessions.length + loggedIn.length)
    // Each instance said the outage began and ended, and which server it now writes to.
    for (const server of [a, b]) {
      expect(server.logs().filter((line) => line.msg === 'Redis connection ready').at(-1)).toMatchObject({ server: `127.0.0.1:${set.replica.port}` })
      expect(server.stdout()).not.toContain('"statusCode":500')
    }
  })

  it('TLS to the sentinels and the Redis servers, with a password on each: a session round trip, and the sentinels\' password never logged', { timeout: 60_000 }, async () => {
    const certificates = await makeCertificates()
    const password = `srv-${randomBytes(9).toString('base64url')}`
    const sentinelPassword = `snt-${randomBytes(9).toString('base64url')}`
    const set = await startSentinelSet({ sentinels: 1, tls: { certificates, user: 'bff', password, sentinelPassword } })
    const sim = await simulator()
    const server = await startRealServer(sim, { ...set.env, REDIS_KEY_PREFIX: PREFIX })
    expect(await waitFor(async () => await ready(server), 15_000, 100)).toBe(true)
    expect(server.logs().find((line) => line.msg === 'Redis connection ready')).toMatchObject({ redis: `sentinel master "bff-sessions" via ${set.env.REDIS_SENTINELS ?? ''} (TLS)` })

    const cookie = await realLogin(server.base)
    expect((await send(server.base, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    expect((await send(server.base, 'POST', '/auth/refresh', { cookie })).status).toBeLessThan(300)
    const primary = directClient({ port: set.primary.port, ...set.serverOptions })
    expect([...(await sessionRecords(primary, PREFIX)).values()].map(({ v }) => v)).toEqual(['2'])
    expect((await send(server.base, 'POST', '/auth/logout', { cookie })).status).toBe(204)
    expect((await sessionRecords(primary, PREFIX)).size).toBe(0)

    const output = server.stdout() + server.stderr()
    for (const secret of [password, sentinelPassword]) expect(output).not.toContain(secret)
    expect(output).not.toContain('Redis is unreachable')
  })
})
