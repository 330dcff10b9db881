import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { freePort } from './helpers/ports.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { startRedisProcess, tempFolder } from './helpers/redis-process.js'

describeWithRedisServer('regression: every 503 store_unavailable was an error line with a stack', () => {
  // Found attacking issue 14 (A8): a fail-over under load logged ~390 error lines with stacks
  // per instance, one per request, for a condition the Redis client's own lines already name.
  it('Redis away, 40 requests answered 503: one warning naming the cause, no stack, no error line', { timeout: 60_000 }, async () => {
    const port = await freePort()
    const redis = await startRedisProcess({ args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], port, dir: await tempFolder('log-flood') })
    const sim = await startSimulator({})
    onCleanup(sim.close)
    const server = await startRealServer(sim, { REDIS_URL: `redis://127.0.0.1:${port}` })
    const cookie = await realLogin(server.base)
    await redis.kill('SIGKILL')

    for (let index = 0; index < 40; index++) {
      const answer = await fetch(`${server.base}/auth/session`, { headers: { cookie } })
      await answer.arrayBuffer()
      expect(answer.status).toBe(503)
      expect(answer.headers.get('retry-after')).not.toBeNull()
    }
    const lines = server.logs()
    const unavailable = lines.filter((line) => line.code === 'store_unavailable')
    // One line, or on a slow machine one more per 10 s saying how many it stands for.
    expect(unavailable.length).toBeGreaterThanOrEqual(1)
    expect(unavailable.length).toBeLessThan(10)
    for (const line of unavailable.slice(1)) expect(line).toMatchObject({ level: 40, msg: 'still answering 503 store_unavailable' })
    expect(unavailable[0]).toMatchObject({ level: 40, msg: 'answering 503 store_unavailable: the session store does not answer' })
    expect(typeof unavailable[0]?.cause).toBe('string')
    expect(lines.filter((line) => line.level === 50 && line.msg === 'request failed')).toEqual([])
    expect(server.stdout()).not.toContain('"stack"')
  })
})
