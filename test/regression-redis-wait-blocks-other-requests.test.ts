import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { DEMO, onCleanup } from './helpers/app.js'
import { freePort } from './helpers/ports.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { startRedisProcess, tempFolder } from './helpers/redis-process.js'

interface Answer { status: number, code: string | undefined, order: number }

describeWithRedisServer('regression: a token save\'s WAIT blocked every other request of the instance', () => {
  // Found attacking issue 14: WAIT blocks the connection it is sent on, and it went on the
  // client's one connection. With the promoted primary's replica gone (no acknowledgement ever),
  // each log-in or refresh held every command behind it for REDIS_WAIT_TIMEOUT, and concurrent
  // saves queued one timeout each: an instance's throughput fell to a tenth, refreshes and
  // log-ins passed their bound and answered 503.
  it('no replica acknowledges: reads answer while log-ins wait, and concurrent log-ins all succeed', { timeout: 60_000 }, async () => {
    const port = await freePort()
    // A primary with no replica: WAIT always runs to its timeout.
    await startRedisProcess({ args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], port, dir: await tempFolder('wait-alone') })
    const sim = await startSimulator({})
    onCleanup(sim.close)
    const server = await startRealServer(sim, {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      REDIS_WAIT_REPLICAS: '1',
      REDIS_WAIT_TIMEOUT: '1500ms',
      AUTH_RATE_LIMIT_PER_IP: '1000',
      AUTH_RATE_LIMIT_PER_ACCOUNT: '1000'
    })
    const cookie = await realLogin(server.base)

    let answered = 0
    const send = async (path: string, init: RequestInit): Promise<Answer> => {
      const response = await fetch(server.base + path, init)
      const text = await response.text()
      let code: string | undefined
      try { code = (JSON.parse(text) as { code?: string }).code } catch {}
      return { status: response.status, code, order: answered++ }
    }
    const logins = Array.from({ length: 6 }, async () => await send('/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(DEMO) }))
    // Once the log-ins' saves are waiting for the replica that never answers:
    await new Promise((resolve) => setTimeout(resolve, 400))
    const read = await send('/auth/session', { headers: { cookie } })
    const loggedIn = await Promise.all(logins)

    // The read did not queue behind the WAITs (before: it timed out behind them, 503).
    expect(read).toMatchObject({ status: 200 })
    expect(read.order, 'the read answered before the log-ins waiting for replicas').toBe(0)
    // Concurrent saves share a WAIT round instead of queueing one timeout each (before: 503 store_unavailable past the operation's bound).
    expect(loggedIn.map((answer) => [answer.status, answer.code])).toEqual(Array.from({ length: 6 }, () => [200, undefined]))
    expect(server.logs().filter((line) => line.code === 'store_unavailable')).toEqual([])
  })
})
