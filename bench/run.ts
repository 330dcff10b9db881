/**
 * npm run bench: every benchmark in one run on this machine, one table at the end, and the
 * raw figures in bench/results/ (git-ignored). Builds dist/ first (the BFF runs compiled).
 * Needs wrk (apt-get install wrk) and Redis on 127.0.0.1:6379 (BENCH_REDIS_URL).
 * BENCH_SOAK_MINUTES=0 skips the 10-minute soak.
 */
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from './lib/processes.js'
import { hasWrk } from './lib/wrk.js'
import { proxiedCall } from './proxied-call.js'
import { refreshStorm } from './refresh-storm.js'
import { soak } from './soak.js'
import { streams } from './streams.js'

if (!await hasWrk()) {
  console.error('bench: wrk is needed (apt-get install -y wrk)')
  process.exit(1)
}

// The BFF under test runs compiled, as in production.
await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT })

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 1024 ** 3)} GiB, Node.js ${process.version}`
console.log(`Benchmarks on ${machine}\n`)

/** Runs one benchmark and prints its raw figures at once, so that a later failure loses nothing. */
async function step<T> (title: string, run: () => Promise<T>): Promise<T> {
  console.log(`${title} …`)
  const result = await run()
  console.log(JSON.stringify(result))
  return result
}

const proxied = await step('1/5 proxied call', proxiedCall)
const stream = await step('2/5 streams', streams)
const storm = await step('3/5 refresh storm', refreshStorm)
const memory = await step('4/5 session memory', async () => JSON.parse((await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/session-memory.ts', '100000'], { cwd: ROOT })).stdout) as { bytesPerSession: number, kibPerSession: number })
const soakMinutes = Number(process.env.BENCH_SOAK_MINUTES ?? 10)
const soaked = soakMinutes > 0 ? await step(`5/5 soak, ${soakMinutes} min`, soak) : undefined
if (soaked === undefined) console.log('5/5 soak skipped (BENCH_SOAK_MINUTES=0)')

const rps = (target: string): number => proxied.rows.find((row) => row.target.startsWith(target))?.requestsPerSecond ?? Number.NaN
const ratio = (a: number, b: number): string => (a / b).toFixed(2)
const lines = [
  '| benchmark | figure | target |',
  '|---|---|---|',
  ...proxied.rows.map((row) => `| proxied call ${row.target} | ${Math.round(row.requestsPerSecond)} req/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms${row.non2xx + row.errors > 0 ? `, ${row.non2xx} non-2xx, ${row.errors} errors` : ''} | |`),
  `| (c) / (b) | ${ratio(rps('(c)'), rps('(b)'))} | ≥ 1.5 |`,
  `| (d) / (c) | ${ratio(rps('(d)'), rps('(c)'))} | ≥ 0.8 |`,
  `| Redis round trips per proxied request | ${proxied.redisPerRequest.reads} read, ${proxied.redisPerRequest.writes} writes | 1 read, 0 writes |`,
  `| stream: time to first event, p50 | direct ${stream.direct.firstEventP50Ms} ms, BFF ${stream.bff.firstEventP50Ms} ms (+${(stream.bff.firstEventP50Ms - stream.direct.firstEventP50Ms).toFixed(2)} ms); for reference a bare node:http proxy ${stream.rawProxy.firstEventP50Ms} ms (+${(stream.rawProxy.firstEventP50Ms - stream.direct.firstEventP50Ms).toFixed(2)} ms), @fastify/http-proxy ${stream.httpProxy.firstEventP50Ms} ms (+${(stream.httpProxy.firstEventP50Ms - stream.direct.firstEventP50Ms).toFixed(2)} ms) | < 2 ms added |`,
  `| stream: per-event delay, p50 / p99 | direct ${stream.direct.eventDelayP50Ms} / ${stream.direct.eventDelayP99Ms} ms, BFF ${stream.bff.eventDelayP50Ms} / ${stream.bff.eventDelayP99Ms} ms (+${(stream.bff.eventDelayP50Ms - stream.direct.eventDelayP50Ms).toFixed(2)} ms at p50); http-proxy ${stream.httpProxy.eventDelayP50Ms} / ${stream.httpProxy.eventDelayP99Ms} ms | < 2 ms added |`,
  `| ${stream.concurrent.streams} concurrent streams, twice | ${stream.concurrent.completed} completed; gauge ${stream.concurrent.openStreamsGauge} while open; CPU ${stream.concurrent.cpuWhileOpenPercent} % while open; heap ${stream.concurrent.heapBeforeMiB} → ${stream.concurrent.heapOpenMiB} (open) → ${stream.concurrent.heapAfterMiB} (after round 1) → ${stream.concurrent.heapAfterSecondMiB} MiB (after round 2); RSS ${stream.concurrent.rssBeforeMiB} → ${stream.concurrent.rssOpenMiB} → ${stream.concurrent.rssAfterMiB} → ${stream.concurrent.rssAfterSecondMiB} MiB | no growth once they end |`,
  `| refresh storm, ${storm.requests} concurrent requests | expired: ${storm.withExpiry.successes} successes, ${storm.withExpiry.upstreamRefreshes} refresh, ${storm.withExpiry.ms} ms; not expired: ${storm.withoutExpiry.successes} successes, ${storm.withoutExpiry.ms} ms | ${storm.requests} successes, 1 refresh |`,
  `| memory per idle session (100,000) | ${memory.bytesPerSession} B (${memory.kibPerSession} KiB) | < 2 KiB |`,
  soaked === undefined
    ? '| soak | skipped | no upward trend |'
    : `| soak ${soaked.minutes} min (${soaked.requests} proxied calls, ${soaked.churnCycles} log-in/stream/log-out cycles) | heap ${soaked.firstMinuteHeapMiB} MiB at 1 min → ${soaked.lastMinuteHeapMiB} MiB in the last minute; trend ${soaked.heapSlopeMiBPerMinute} MiB/min; floor (lowest sample of each minute) trend ${soaked.heapFloorSlopeMiBPerMinute} MiB/min; RSS ${soaked.samples[0]?.rssMiB ?? '?'} → ${soaked.samples.at(-2)?.rssMiB ?? '?'} MiB | no upward trend |`
]
const table = lines.join('\n')
console.log(`\n${table}\n`)

const results = resolve(ROOT, 'bench/results')
await mkdir(results, { recursive: true })
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
await writeFile(resolve(results, `${stamp}.json`), JSON.stringify({ machine, proxied, stream, storm, memory, soak: soaked }, null, 2))
await writeFile(resolve(results, `${stamp}.md`), `Benchmarks on ${machine}\n\n${table}\n`)
console.log(`raw figures: bench/results/${stamp}.json`)
