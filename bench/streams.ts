/**
 * Streams: time to first event and per-event delay added by the BFF against the upstream
 * directly; then 1,000 concurrent open streams through the BFF: memory and CPU while open,
 * and memory once they have ended.
 * Run alone: node --import tsx bench/streams.ts
 */
import { Pool } from 'undici'
import { bffEnv, processUsage, startServer } from './lib/processes.js'
import { loginCookie, metric } from './lib/session.js'
import { percentile, timeStream } from './lib/sse.js'

const SEQUENTIAL = Number(process.env.BENCH_STREAMS ?? 100)
const CONCURRENT = Number(process.env.BENCH_CONCURRENT_STREAMS ?? 1000)
const body = JSON.stringify({ user_query: 'How fast is this?', chat_thread_id: 1 })

export interface StreamResults {
  direct: { firstEventP50Ms: number, eventDelayP50Ms: number, eventDelayP99Ms: number }
  /** A bare node:http proxy in its own process, for reference: the least any proxy hop costs on this machine. */
  rawProxy: { firstEventP50Ms: number, eventDelayP50Ms: number, eventDelayP99Ms: number }
  /** The thinnest Fastify proxy, for reference. */
  httpProxy: { firstEventP50Ms: number, eventDelayP50Ms: number, eventDelayP99Ms: number }
  bff: { firstEventP50Ms: number, eventDelayP50Ms: number, eventDelayP99Ms: number }
  concurrent: {
    streams: number
    completed: number
    heapBeforeMiB: number
    heapOpenMiB: number
    heapAfterMiB: number
    heapAfterSecondMiB: number
    rssBeforeMiB: number
    rssOpenMiB: number
    rssAfterMiB: number
    rssAfterSecondMiB: number
    cpuWhileOpenPercent: number
    openStreamsGauge: number
  }
}

export async function streams (): Promise<StreamResults> {
  const fast = await startServer('bench/servers/fast-upstream.ts', { STREAM_EVENTS: '20', STREAM_INTERVAL_MS: '10' })
  const slow = await startServer('bench/servers/fast-upstream.ts', { STREAM_EVENTS: '15', STREAM_INTERVAL_MS: '1000' })
  const env = (upstream: string): Record<string, string> => bffEnv({ authUrl: upstream, apiUrl: upstream }, { UPSTREAM_CONNECTIONS: String(CONCURRENT + 100) })
  try {
    const bff = await startServer('bench/servers/bff.mjs', env(fast.url))
    const proxy = await startServer('bench/servers/http-proxy.mjs', { UPSTREAM: fast.url, LOG_LEVEL: 'warn' })
    const raw = await startServer('bench/servers/raw-proxy.mjs', { UPSTREAM: fast.url })
    const cookie = await loginCookie(bff.url)
    // Interleaved, so that a slow spell of the machine hits all four alike.
    const [direct, rawProxy, httpProxy, through] = await timeInterleaved([
      { url: `${fast.url}/api/agent/1/response`, headers: { authorization: 'Bearer bench' } },
      { url: `${raw.url}/api/agents/1/response`, headers: {} },
      { url: `${proxy.url}/api/agents/1/response`, headers: {} },
      { url: `${bff.url}/api/agents/1/responses`, headers: { cookie } }
    ])
    await raw.stop()
    await proxy.stop()
    await bff.stop()

    const concurrent = await openMany(await startServer('bench/servers/bff.mjs', env(slow.url), ['--expose-gc']))
    return { direct: direct as Timing, rawProxy: rawProxy as Timing, httpProxy: httpProxy as Timing, bff: through as Timing, concurrent }
  } finally {
    await fast.stop()
    await slow.stop()
  }
}

type Timing = StreamResults['direct']

async function timeInterleaved (targets: Array<{ url: string, headers: Record<string, string> }>): Promise<Timing[]> {
  for (let warm = 0; warm < 10; warm++) for (const { url, headers } of targets) await timeStream(url, headers, body)
  const firsts = targets.map((): number[] => [])
  const delays = targets.map((): number[] => [])
  for (let index = 0; index < SEQUENTIAL; index++) {
    for (const [position, { url, headers }] of targets.entries()) {
      const timing = await timeStream(url, headers, body)
      firsts[position]?.push(timing.firstEventMs)
      delays[position]?.push(...timing.eventDelaysMs)
    }
  }
  return targets.map((_target, position) => ({
    firstEventP50Ms: round(percentile(firsts[position] ?? [], 50)),
    eventDelayP50Ms: round(percentile(delays[position] ?? [], 50)),
    eventDelayP99Ms: round(percentile(delays[position] ?? [], 99))
  }))
}

async function openMany (bff: Awaited<ReturnType<typeof startServer>>): Promise<StreamResults['concurrent']> {
  const pid = bff.child.pid as number
  const cookie = await loginCookie(bff.url)
  const pool = new Pool(bff.url, { connections: CONCURRENT, headersTimeout: 60_000, bodyTimeout: 60_000 })
  try {
    // Warm up (JIT, pools), then a full collection: the baseline.
    await Promise.all(Array.from({ length: 50 }, async () => { await timeStream(`${bff.url}/api/agents/1/responses`, { cookie }, body, pool) }))
    const heap = async (): Promise<number> => {
      bff.child.kill('SIGUSR2')
      await new Promise((resolve) => setTimeout(resolve, 500))
      return await metric(bff.url, 'ejento_bff_nodejs_heap_size_used_bytes') / 1024 / 1024
    }
    const heapBeforeMiB = await heap()
    const rssBeforeMiB = (await processUsage(pid)).rssBytes / 1024 / 1024

    /** Opens CONCURRENT streams at once; resolves once every one has its first event, with a promise of their ends. */
    const openAll = async (): Promise<{ ends: Promise<number[]> }> => {
      const seen = { firstEvents: 0 }
      const all = Promise.all(Array.from({ length: CONCURRENT }, async () => {
        const response = await pool.request({ method: 'POST', path: '/api/agents/1/responses', headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' }, body })
        let counted = false
        for await (const chunk of response.body) {
          if (!counted && (chunk as Buffer).length > 0) {
            counted = true
            seen.firstEvents += 1
          }
        }
        return response.statusCode
      }))
      const deadline = Date.now() + 30_000
      while (seen.firstEvents < CONCURRENT && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
      return { ends: all }
    }

    // Round 1: measure while open, and after.
    const { ends } = await openAll()
    const openStreamsGauge = await metric(bff.url, 'ejento_bff_open_streams')
    const cpuStart = await processUsage(pid)
    const wallStart = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 5000))
    const cpuEnd = await processUsage(pid)
    const cpuWhileOpenPercent = (cpuEnd.cpuSeconds - cpuStart.cpuSeconds) / ((performance.now() - wallStart) / 1000) * 100
    const heapOpenMiB = await metric(bff.url, 'ejento_bff_nodejs_heap_size_used_bytes') / 1024 / 1024
    const rssOpenMiB = cpuEnd.rssBytes / 1024 / 1024
    const statuses = await ends
    await new Promise((resolve) => setTimeout(resolve, 1000))
    // After round 1 the pools hold a thousand idle keep-alive connections on both sides; a
    // leak would show as growth from round 1 to round 2, each measured after a full collection.
    const heapAfterMiB = await heap()
    const rssAfterMiB = (await processUsage(pid)).rssBytes / 1024 / 1024
    const secondRound = await (await openAll()).ends
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const heapAfterSecondMiB = await heap()
    const rssAfterSecondMiB = (await processUsage(pid)).rssBytes / 1024 / 1024
    return {
      streams: CONCURRENT,
      completed: [...statuses, ...secondRound].filter((status) => status === 200).length,
      heapBeforeMiB: round(heapBeforeMiB),
      heapOpenMiB: round(heapOpenMiB),
      heapAfterMiB: round(heapAfterMiB),
      heapAfterSecondMiB: round(heapAfterSecondMiB),
      rssBeforeMiB: round(rssBeforeMiB),
      rssOpenMiB: round(rssOpenMiB),
      rssAfterMiB: round(rssAfterMiB),
      rssAfterSecondMiB: round(rssAfterSecondMiB),
      cpuWhileOpenPercent: round(cpuWhileOpenPercent),
      openStreamsGauge
    }
  } finally {
    await pool.close()
    await bff.stop()
  }
}

const round = (value: number): number => Math.round(value * 100) / 100

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await streams(), null, 2))
}
