/**
 * Soak: the BFF under steady load for BENCH_SOAK_MINUTES (default 10) — proxied calls from wrk,
 * plus a steady churn of log-ins, streamed answers and log-outs — with its heap sampled every
 * 10 s after a full collection. A leak shows as an upward trend.
 * Run alone: node --import tsx bench/soak.ts
 */
import { spawn } from 'node:child_process'
import { resolve as resolvePath } from 'node:path'
import { request } from 'undici'
import { ROOT, bffEnv, processUsage, startServer } from './lib/processes.js'
import { loginCookie, metric } from './lib/session.js'
import { timeStream } from './lib/sse.js'

const MINUTES = Number(process.env.BENCH_SOAK_MINUTES ?? 10)
const SAMPLE_MS = 10_000

export interface SoakResults {
  minutes: number
  samples: Array<{ atS: number, heapMiB: number, rssMiB: number }>
  requests: number
  churnCycles: number
  heapSlopeMiBPerMinute: number
  /** Trend of each minute's lowest heap sample: live data only, whatever the load's garbage. */
  heapFloorSlopeMiBPerMinute: number
  firstMinuteHeapMiB: number
  lastMinuteHeapMiB: number
}

export async function soak (): Promise<SoakResults> {
  const upstream = await startServer('bench/servers/fast-upstream.ts', { STREAM_EVENTS: '10', STREAM_INTERVAL_MS: '20' })
  const bff = await startServer('bench/servers/bff.mjs', bffEnv({ authUrl: upstream.url, apiUrl: upstream.url }, {
    AUTH_RATE_LIMIT_PER_IP: '1000000',
    AUTH_RATE_LIMIT_PER_ACCOUNT: '1000000'
  }), ['--expose-gc'])
  const seconds = Math.round(MINUTES * 60)
  try {
    const cookie = await loginCookie(bff.url)
    // Steady proxied calls for the whole soak, from wrk in its own process (8 connections: a steady, not saturating, load).
    const load = spawn('wrk', ['-t1', '-c8', `-d${seconds}s`, '-s', resolvePath(ROOT, 'bench/wrk/post.lua'), `${bff.url}/api/agents/1/chat-threads`], {
      env: { ...process.env, BENCH_COOKIE: cookie }, stdio: ['ignore', 'pipe', 'inherit']
    })
    let wrkOutput = ''
    load.stdout.on('data', (chunk: Buffer) => { wrkOutput += chunk.toString() })
    const loadDone = new Promise((resolve) => load.once('exit', resolve))

    // Session churn: log in, ask (streamed), log out, again and again.
    let churnCycles = 0
    const state = { churning: true }
    const churn = (async () => {
      while (state.churning) {
        const sessionCookie = await loginCookie(bff.url, { email: `soak${churnCycles % 500}@example.com`, password: 'soak-password' })
        await timeStream(`${bff.url}/api/agents/1/responses`, { cookie: sessionCookie }, JSON.stringify({ user_query: 'soak', chat_thread_id: 1 }))
        const out = await request(`${bff.url}/auth/logout`, { method: 'POST', headers: { cookie: sessionCookie } })
        await out.body.dump()
        churnCycles += 1
      }
    })()

    const samples: SoakResults['samples'] = []
    const started = performance.now()
    while (performance.now() - started < seconds * 1000) {
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS))
      bff.child.kill('SIGUSR2')
      await new Promise((resolve) => setTimeout(resolve, 300))
      samples.push({
        atS: Math.round((performance.now() - started) / 1000),
        heapMiB: round(await metric(bff.url, 'ejento_bff_nodejs_heap_size_used_bytes') / 1024 / 1024),
        rssMiB: round((await processUsage(bff.child.pid as number)).rssBytes / 1024 / 1024)
      })
    }
    state.churning = false
    await churn
    await loadDone
    const requests = Number(/(\d+) requests in/.exec(wrkOutput)?.[1] ?? 0)
    // The first minute is warm-up (JIT, pools, caches); the trend is measured after it.
    const steady = samples.filter((sample) => sample.atS > 60)
    const perMinute = (sample: { atS: number }): number => sample.atS / 60
    return {
      minutes: MINUTES,
      samples,
      requests,
      churnCycles,
      heapSlopeMiBPerMinute: round(slope(steady.map(perMinute), steady.map((sample) => sample.heapMiB))),
      heapFloorSlopeMiBPerMinute: round(floorSlope(steady)),
      firstMinuteHeapMiB: round(mean(samples.filter((sample) => sample.atS <= 60 + SAMPLE_MS / 1000 && sample.atS > 60 - SAMPLE_MS / 1000).map((sample) => sample.heapMiB))),
      lastMinuteHeapMiB: round(mean(samples.filter((sample) => sample.atS > seconds - 60).map((sample) => sample.heapMiB)))
    }
  } finally {
    await bff.stop()
    await upstream.stop()
  }
}

function floorSlope (samples: SoakResults['samples']): number {
  const minutes = new Map<number, number>()
  for (const sample of samples) {
    const minute = Math.floor(sample.atS / 60)
    minutes.set(minute, Math.min(minutes.get(minute) ?? Infinity, sample.heapMiB))
  }
  return slope([...minutes.keys()], [...minutes.values()])
}

function slope (xs: number[], ys: number[]): number {
  if (xs.length < 2) return Number.NaN
  const mx = mean(xs)
  const my = mean(ys)
  let numerator = 0
  let denominator = 0
  for (let index = 0; index < xs.length; index++) {
    numerator += ((xs[index] as number) - mx) * ((ys[index] as number) - my)
    denominator += ((xs[index] as number) - mx) ** 2
  }
  return numerator / denominator
}

const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length
const round = (value: number): number => Math.round(value * 100) / 100

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await soak(), null, 2))
}
