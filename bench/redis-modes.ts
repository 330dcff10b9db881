/**
 * The proxied call (POST /api/agents/1/chat-threads, as in proxied-call.ts) and a log-in burst
 * on the three Redis modes, as ratios to one primary: one compiled BFF build, one fast
 * upstream, three BFF processes, each on a topology of its own started here on free ports:
 *
 *   single    REDIS_URL            one primary
 *   sentinel  REDIS_SENTINELS      primary + replica + 3 sentinels (REDIS_WAIT_REPLICAS=1, the default)
 *   cluster   REDIS_CLUSTER_NODES  3 primaries, a replica each
 *
 *   npm run bench:redis-modes      (BENCH_ROUNDS 4, BENCH_SECONDS 8, BENCH_CONNECTIONS 32,
 *                                   BENCH_LOGINS 300 at BENCH_LOGIN_CONCURRENCY 16)
 *
 * Each round runs every mode, rotated (single sentinel cluster, sentinel cluster single, …), so
 * that the shared machine's slow spells hit all alike; the medians and the ratios are what to
 * read. A log-in saves a token pair (the save Sentinel's WAIT holds up); the proxied call only
 * reads the session. Everything started is stopped at the end, on a failure and on Ctrl-C.
 */
import { execFileSync } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { dirname } from 'node:path'
import { compiledServer } from './chaos/build.js'
import { killOnExit } from './chaos/on-exit.js'
import { bffEnv, ROOT, startServer } from './lib/processes.js'
import type { Started } from './lib/processes.js'
import { startCluster, startSentinelSet, startSingle } from './lib/redis-topologies.js'
import type { Topology } from './lib/redis-topologies.js'
import { loginCookie, untilReady } from './lib/session.js'
import { hasWrk, wrk } from './lib/wrk.js'
import type { LoadResult } from './lib/wrk.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const LOGINS = Number(process.env.BENCH_LOGINS ?? 300)
const LOGIN_CONCURRENCY = Number(process.env.BENCH_LOGIN_CONCURRENCY ?? 16)
const WARMUP_SECONDS = Math.min(SECONDS, 3)

interface Mode {
  name: 'single' | 'sentinel' | 'cluster'
  start: () => Promise<Topology>
}
const MODES: Mode[] = [
  { name: 'single', start: startSingle },
  { name: 'sentinel', start: startSentinelSet },
  { name: 'cluster', start: startCluster }
]

interface Side {
  mode: Mode
  topology: Topology
  server: Started
  url: string
  cookie: string
  calls: LoadResult[]
  loginsPerSecond: number[]
  failures: number
}

// What to stop, last first, once; redis-server processes and their folders are also killed and
// removed by on-exit.js should this process end before it gets there.
const cleanups: Array<() => Promise<void>> = []
async function cleanUp (): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) {
    try {
      await step()
    } catch (error) {
      console.error(`redis-modes: cleanup step failed: ${(error as Error).message}`)
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`redis-modes: ${signal}, stopping everything`)
    endChildren()
    cleanUp().finally(() => process.exit(130))
  })
}

/** Ends this process's children by pid: bench/lib runs wrk without a handle to stop it by. */
function endChildren (): void {
  let listing = ''
  try { listing = execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)], { encoding: 'utf8' }) } catch {}
  for (const pid of listing.split('\n').map(Number)) {
    if (pid > 0) {
      try { process.kill(pid, 'SIGTERM') } catch {}
    }
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length / 2
  return Number.isInteger(middle) ? ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2 : sorted[Math.floor(middle)] ?? Number.NaN
}
const whole = (value: number): string => Math.round(value).toLocaleString('en')
const figures = (result: Pick<LoadResult, 'requestsPerSecond' | 'p50Ms' | 'p99Ms'>): string =>
  `${whole(result.requestsPerSecond).padStart(7)} req/s  p50 ${result.p50Ms.toFixed(2).padStart(6)} ms  p99 ${result.p99Ms.toFixed(2).padStart(6)} ms`

/** LOGINS log-ins, LOGIN_CONCURRENCY at a time: log-ins per second, and how many failed. */
async function loginBurst (baseUrl: string): Promise<{ perSecond: number, failed: number }> {
  let next = 0
  let failed = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: LOGIN_CONCURRENCY }, async () => {
    while (next < LOGINS) {
      next += 1
      await loginCookie(baseUrl).catch(() => { failed += 1 })
    }
  }))
  return { perSecond: LOGINS / ((performance.now() - started) / 1000), failed }
}

async function main (): Promise<boolean> {
  console.log('Building …')
  const build = dirname(compiledServer(ROOT))
  const upstream = await startServer('bench/servers/fast-upstream.ts')
  killOnExit(upstream.child)
  cleanups.push(upstream.stop)
  // The load comes from one address and one account; the log-in limits are not what is measured.
  const env = bffEnv({ authUrl: upstream.url, apiUrl: upstream.url }, { AUTH_RATE_LIMIT_PER_IP: '1000000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000000' })
  const redisVersion = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1] ?? '?'
  console.log(`Redis modes on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node.js ${process.version}, Redis ${redisVersion}, load average ${loadavg()[0]?.toFixed(2) ?? '?'}`)
  console.log(`  build ${build}`)
  console.log(`  ${ROUNDS} rounds, each: wrk ${SECONDS} s at ${CONNECTIONS} connections, then ${LOGINS} log-ins ${LOGIN_CONCURRENCY} at a time; modes rotated per round`)

  const sides: Side[] = []
  for (const mode of MODES) {
    const topology = await mode.start()
    cleanups.push(topology.stop)
    const server = await startServer('bench/servers/bff-build.mjs', { ...env, ...topology.env, BFF_BUILD: build })
    killOnExit(server.child)
    cleanups.push(server.stop)
    await untilReady(server.url)
    console.log(`  ${mode.name.padEnd(8)} ${topology.processes} redis-server process${topology.processes === 1 ? '' : 'es'}: ${Object.keys(topology.env).join(', ')}`)
    sides.push({ mode, topology, server, url: `${server.url}/api/agents/1/chat-threads`, cookie: await loginCookie(server.url), calls: [], loginsPerSecond: [], failures: 0 })
  }
  for (const side of sides) await wrk(side.url, { seconds: WARMUP_SECONDS, connections: CONNECTIONS, cookie: side.cookie })

  for (let round = 0; round < ROUNDS; round++) {
    // Rotated: each mode goes first, second and third as often as the rounds allow.
    const order = sides.map((_, index) => sides[(index + round) % sides.length] as Side)
    for (const side of order) {
      const result = await wrk(side.url, { seconds: SECONDS, connections: CONNECTIONS, cookie: side.cookie })
      const logins = await loginBurst(side.server.url)
      side.calls.push(result)
      side.loginsPerSecond.push(logins.perSecond)
      side.failures += result.non2xx + result.errors + logins.failed
      const failed = result.non2xx + result.errors + logins.failed > 0 ? `  (${result.non2xx} non-2xx, ${result.errors} socket errors, ${logins.failed} failed log-ins)` : ''
      console.log(`  round ${round + 1} ${side.mode.name.padEnd(8)} ${figures(result)}  log-ins ${whole(logins.perSecond).padStart(5)}/s${failed}`)
    }
  }

  const medians = sides.map((side) => ({
    name: side.mode.name,
    requestsPerSecond: median(side.calls.map((result) => result.requestsPerSecond)),
    p50Ms: median(side.calls.map((result) => result.p50Ms)),
    p99Ms: median(side.calls.map((result) => result.p99Ms)),
    loginsPerSecond: median(side.loginsPerSecond)
  }))
  const single = medians[0] as (typeof medians)[number]
  console.log('\n| mode | req/s | p50 | p99 | log-ins/s | req/s ÷ single | p50 ÷ single | p99 ÷ single | log-ins/s ÷ single |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const row of medians) {
    console.log(`| ${row.name} | ${whole(row.requestsPerSecond)} | ${row.p50Ms.toFixed(2)} ms | ${row.p99Ms.toFixed(2)} ms | ${whole(row.loginsPerSecond)} | ` +
      `${(row.requestsPerSecond / single.requestsPerSecond).toFixed(3)} | ${(row.p50Ms / single.p50Ms).toFixed(3)} | ${(row.p99Ms / single.p99Ms).toFixed(3)} | ${(row.loginsPerSecond / single.loginsPerSecond).toFixed(3)} |`)
  }
  console.log(`load average at the end ${loadavg()[0]?.toFixed(2) ?? '?'}`)
  return sides.every((side) => side.failures === 0)
}

if (![SECONDS, ROUNDS, CONNECTIONS, LOGINS, LOGIN_CONCURRENCY].every((value) => Number.isInteger(value) && value > 0)) {
  console.error('redis-modes: BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_LOGINS and BENCH_LOGIN_CONCURRENCY are whole numbers above 0')
  process.exit(2)
}
if (!await hasWrk()) {
  console.error('redis-modes: wrk is needed (apt-get install -y wrk)')
  process.exit(1)
}
try {
  if (!await main()) {
    console.error('\nredis-modes: some calls failed (non-2xx, socket errors or failed log-ins): those figures measure failures too')
    process.exitCode = 1
  }
} catch (error) {
  console.error(`redis-modes: ${(error as Error).message}`)
  process.exitCode = 1
} finally {
  await cleanUp()
}
