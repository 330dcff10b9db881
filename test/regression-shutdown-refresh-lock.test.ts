import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { waitFor, within } from './helpers/processes.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { REDIS_URL, describeWithRedis, testPrefix } from './helpers/redis.js'

/**
 * Regression (SIGTERM during refreshes, attack on issue 16): a refresh still under way upstream,
 * its caller gone (504 at REFRESH_TIMEOUT), finished while the shutdown was already closing
 * Redis: its tokens were stored, but its lock was not released (and its announcement not
 * concluded), so the session's next refresh on another instance waited for the lock to lapse
 * and answered 504. Now the process waits for refreshes under way before it closes anything
 * (README, Restarts): a rotating Ejento has already revoked the old token, and the answer
 * holds the only working one.
 */
describeWithRedis('regression: a shutdown during a refresh nobody waits for left its lock held', () => {
  it('stores the refresh\'s tokens before exiting, past the grace period: another instance uses them', async () => {
    const sim = await startSimulator({ strictRotation: true })
    onCleanup(sim.close)
    const env = { REDIS_URL, REDIS_KEY_PREFIX: testPrefix(), REFRESH_TIMEOUT: '1s', REFRESH_CALL_LIMIT: '30s', SHUTDOWN_GRACE_PERIOD: '1s' }
    const first = await startRealServer(sim, env)
    expect(await waitFor(async () => (await fetch(`${first.base}/readyz`)).status === 200, 10_000, 100)).toBe(true)
    const cookie = await realLogin(first.base)

    // Ejento rotates at once, then takes 5 s to answer.
    sim.configure({ refreshDelayMs: 5000 })
    const refresh = await fetch(`${first.base}/auth/refresh`, { method: 'POST', headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    expect(refresh.status).toBe(504)
    const signalled = Date.now()
    first.child.kill('SIGTERM')
    const exit = await within(40_000, first.exited, 'the exit')
    expect(exit.code).toBe(0)
    expect(exit.at - signalled).toBeGreaterThan(2500)
    expect(first.logs().some((line) => line.refresh === 'refreshed')).toBe(true)
    sim.configure({ refreshDelayMs: 0 })

    // The old auth-app token is revoked: only the stored answer lets the session refresh again,
    // at once (no lock left to lapse).
    const second = await startRealServer(sim, env)
    expect(await waitFor(async () => (await fetch(`${second.base}/readyz`)).status === 200, 10_000, 100)).toBe(true)
    const again = await fetch(`${second.base}/auth/refresh`, { method: 'POST', headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    expect(again.status).toBe(204)
  })
})
