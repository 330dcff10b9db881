import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { waitFor, within } from './helpers/processes.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { startSentinelSet } from './helpers/redis-sentinel.js'

describeWithRedisServer('regression: shutdown under Sentinel left the sentinel connections open', () => {
  // Found attacking issue 14 (A6): QUIT closed the connection to the primary, but the fail-over
  // detector's connections to the sentinels stayed open, so the process only ended at the
  // forced exit, saying something was left open.
  it('SIGTERM: the process ends by itself, exit 0, with nothing left open', { timeout: 60_000 }, async () => {
    const set = await startSentinelSet({ sentinels: 2 })
    const sim = await startSimulator({})
    onCleanup(sim.close)
    const server = await startRealServer(sim, set.env)
    expect(await waitFor(async () => await fetch(`${server.base}/readyz`).then((answer) => answer.status === 200, () => false), 15_000, 100)).toBe(true)
    await realLogin(server.base)
    // The detector subscribes to +switch-master once connected: wait for its connections.
    await new Promise((resolve) => setTimeout(resolve, 500))

    server.child.kill('SIGTERM')
    const exit = await within(30_000, server.exited, 'the server to exit after SIGTERM')
    expect(exit.code).toBe(0)
    const lines = server.logs().map((line) => String(line.msg))
    expect(lines).toContain('shut down')
    expect(lines, 'the forced exit named resources left open').not.toContain('exit forced: something was left open')
  })
})
