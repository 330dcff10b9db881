import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { startSentinelSet } from './helpers/redis-sentinel.js'

describeWithRedisServer('regression: sentinels away printed "[ioredis] Unhandled error event" to stderr', () => {
  // Found running the Redis suite on a Sentinel set: ioredis's fail-over detector connects to
  // each sentinel without an error listener (redis/ioredis#1829), so while they were down
  // every retry printed a plain-text stack to stderr beside the JSON log.
  it('the whole set killed and started again: stderr stays empty and sessions still work', { timeout: 60_000 }, async () => {
    const set = await startSentinelSet({ sentinels: 2, persist: true })
    const sim = await startSimulator({})
    onCleanup(sim.close)
    const server = await startRealServer(sim, set.env)
    const ready = async (): Promise<boolean> => await fetch(`${server.base}/readyz`).then((answer) => answer.status === 200, () => false)
    expect(await waitFor(ready, 15_000, 100)).toBe(true)
    const cookie = await realLogin(server.base)
    // The detector subscribes to +switch-master once connected: wait for its connections.
    await new Promise((resolve) => setTimeout(resolve, 500))

    // The whole set away (an outage): the detector's connections retry while the sentinels are.
    const all = [...set.sentinels, set.replica, set.primary]
    for (const server of all) await server.kill('SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 3000))
    for (const server of all.reverse()) await server.restart()
    // A request that needs the session (kept on disk by the primary).
    expect(await waitFor(ready, 30_000, 200)).toBe(true)
    const session = await fetch(`${server.base}/auth/session`, { headers: { cookie } })
    expect(session.status).toBe(200)
    expect(await waitFor(ready, 20_000, 200)).toBe(true)

    expect(server.stderr()).not.toContain('Unhandled error event')
    expect(server.stderr()).toBe('')
  })
})
