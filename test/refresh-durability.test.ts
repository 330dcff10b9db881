import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../src/simulator/index.js'
import { onCleanup, sleep } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'
import { describeWithRedisServer, startOwnRedis, testPrefix } from './helpers/redis.js'

// A strictly rotating upstream revokes the old auth-app token the moment a refresh reaches it:
// whatever happens next, losing the answer would log the user out. These run the compiled server.

async function simulator (options: SimulatorOptions): Promise<Simulator> {
  const sim = await startSimulator({ strictRotation: true, ...options })
  onCleanup(sim.close)
  return sim
}

interface Answer { status: number, code: string | undefined }

async function ask (server: RealServer, cookie: string, method = 'GET', path = '/api/users'): Promise<Answer> {
  const response = await fetch(`${server.base}${path}`, { method, headers: { cookie, 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) })
  const text = await response.text()
  const code = response.headers.get('content-type')?.includes('problem') === true ? (JSON.parse(text) as { code?: string }).code : undefined
  return { status: response.status, code }
}

function logLines (server: RealServer, text: string): number {
  return server.stdout().split('\n').filter((line) => line.includes(text)).length
}

describe('a refresh slower than REFRESH_TIMEOUT (issue 16, item 1)', () => {
  it('regression: POST /auth/refresh answers 504 at REFRESH_TIMEOUT, the refresh runs on, and its tokens are used afterwards', async () => {
    const sim = await simulator({ refreshDelayMs: 2500 })
    const server = await startRealServer(sim, { REFRESH_TIMEOUT: '1s' })
    const cookie = await realLogin(server.base)

    const started = Date.now()
    const refreshed = await ask(server, cookie, 'POST', '/auth/refresh')
    expect(refreshed).toEqual({ status: 504, code: 'upstream_timeout' })
    expect(Date.now() - started).toBeLessThan(2400)

    await waitFor(() => logLines(server, '"refresh":"refreshed"') === 1, 10_000)
    // Before the fix the revoked token was presented again: 403, then 401 session_expired.
    expect(await ask(server, cookie)).toEqual({ status: 200, code: undefined })
    expect(await ask(server, cookie, 'POST', '/api/agents/1/chat-threads')).toEqual({ status: 201, code: undefined })
    expect(sim.counter('refresh')).toBe(1)
    expect(sim.counter('refresh_refused')).toBe(0)
  })

  it('regression: an ordinary call that triggers a slow proactive refresh gets no 401, and the session goes on with the new tokens', async () => {
    // Tokens of 4 s are refreshed 2 s before they expire (the skew is capped at half their life).
    const sim = await simulator({ refreshDelayMs: 2500, authTokenTtl: 4, ejentoTokenTtl: 4 })
    const server = await startRealServer(sim, { REFRESH_TIMEOUT: '1s' })
    const cookie = await realLogin(server.base)
    await sleep(2200)

    const statuses: number[] = []
    const deadline = Date.now() + 8000
    while (Date.now() < deadline && sim.counter('refresh') === 0) statuses.push((await ask(server, cookie)).status)
    await waitFor(() => logLines(server, '"refresh":"refreshed"') === 1, 10_000)
    statuses.push((await ask(server, cookie)).status)

    expect(statuses).not.toContain(401)
    expect(statuses.at(-1)).toBe(200)
    expect(sim.counter('refresh')).toBe(1)
    expect(sim.counter('refresh_refused')).toBe(0)
  })
})

describeWithRedisServer('Redis away longer than any save retry while a refresh answers (issue 16, item 2)', () => {
  for (const outage of ['stopped', 'paused'] as const) {
    it(`regression: Redis ${outage} for 8 s: the fresh tokens are kept, used, saved late, and no instance logs the user out`, async () => {
      const redis = await startOwnRedis()
      const sim = await simulator({ refreshDelayMs: 1000 })
      const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: testPrefix(), REFRESH_TIMEOUT: '3s' }
      const [a, b] = await Promise.all([startRealServer(sim, env), startRealServer(sim, env)]) as [RealServer, RealServer]
      const cookie = await realLogin(a.base)
      sim.expireTokens('ejento')
      await sleep(5)

      // A's call refreshes; the answer arrives while Redis is away.
      const during = ask(a, cookie, 'POST', '/api/agents/1/chat-threads')
      await waitFor(() => sim.counter('refresh') === 1, 5000)
      if (outage === 'stopped') await redis.stop()
      else redis.pause()
      // Meanwhile both instances answer 503 (no session can be read), never 401.
      const meanwhile: Answer[] = []
      const outageEnds = Date.now() + 8000
      while (Date.now() < outageEnds) {
        for (const server of [a, b]) meanwhile.push(await ask(server, cookie))
        await sleep(500)
      }
      if (outage === 'stopped') await redis.start()
      else redis.resume()

      // The call that refreshed went on with the new tokens, or (Redis frozen, its save hanging)
      // gave up waiting: never a 401.
      const first = await during
      expect([201, 503, 504], JSON.stringify(first)).toContain(first.status)
      // Right after the outage, either instance may answer 503 for a moment; never 401.
      const after: Answer[] = []
      for (let round = 0; round < 60; round++) {
        const answers = [await ask(b, cookie), await ask(a, cookie)]
        after.push(...answers)
        if (answers.every((answer) => answer.status === 200)) break
        await sleep(250)
      }
      expect(meanwhile.filter((answer) => answer.status === 401)).toEqual([])
      expect(after.filter((answer) => answer.status === 401)).toEqual([])
      expect(after.slice(-2).map((answer) => answer.status)).toEqual([200, 200])
      expect(sim.counter('refresh')).toBe(1)
      expect(sim.counter('refresh_refused')).toBe(0)
      // The log tells what it knows: kept, then saved late; never "unsaved" or lost.
      expect(logLines(a, 'kept in memory and retried')).toBe(1)
      await waitFor(() => logLines(a, 'fresh tokens saved late') === 1, 10_000)
      expect(a.stdout() + b.stdout()).not.toMatch(/"refresh":"(lost|refused)"|unsaved/)
      expect(await alive(a)).toBe(true)
      expect(await alive(b)).toBe(true)
    }, 60_000)
  }
})
