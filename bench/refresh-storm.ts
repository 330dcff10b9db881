/**
 * Refresh storm: 1,000 concurrent requests of one session whose Ejento token has just expired
 * (strictly rotating simulator) must give 1,000 successes and exactly 1 upstream refresh.
 * Time to complete, against the same burst without expiry.
 * Run alone: node --import tsx bench/refresh-storm.ts
 */
import { Pool } from 'undici'
import { startSimulator } from '../src/simulator/index.js'
import { bffEnv, startServer } from './lib/processes.js'
import { loginCookie } from './lib/session.js'

const BURST = Number(process.env.BENCH_STORM ?? 1000)

export interface StormResults {
  requests: number
  withExpiry: { successes: number, upstreamRefreshes: number, refusedRefreshes: number, ms: number }
  withoutExpiry: { successes: number, ms: number }
}

export async function refreshStorm (): Promise<StormResults> {
  const sim = await startSimulator({ strictRotation: true })
  const bff = await startServer('bench/servers/bff.mjs', bffEnv(sim, { UPSTREAM_CONNECTIONS: String(BURST + 100) }))
  const pool = new Pool(bff.url, { connections: BURST, headersTimeout: 60_000 })
  try {
    const cookie = await loginCookie(bff.url, { email: 'demo@example.com', password: 'demo-password' })
    const burst = async (): Promise<{ successes: number, ms: number }> => {
      const started = performance.now()
      const statuses = await Promise.all(Array.from({ length: BURST }, async () => {
        const response = await pool.request({ method: 'POST', path: '/api/agents/1/chat-threads', headers: { cookie } })
        await response.body.dump()
        return response.statusCode
      }))
      return { successes: statuses.filter((status) => status === 201).length, ms: Math.round(performance.now() - started) }
    }
    await burst() // warm-up: connections, JIT
    const withoutExpiry = await burst()
    const refreshesBefore = sim.counter('refresh')
    sim.expireTokens('ejento')
    const withExpiry = await burst()
    // Keep the simulator's record from growing into the measurement of later benchmarks.
    sim.requests.length = 0
    return {
      requests: BURST,
      withExpiry: { ...withExpiry, upstreamRefreshes: sim.counter('refresh') - refreshesBefore, refusedRefreshes: sim.counter('refresh_refused') },
      withoutExpiry
    }
  } finally {
    await pool.close()
    await bff.stop()
    await sim.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await refreshStorm(), null, 2))
}
