/**
 * Proxied call: throughput and latency of POST /api/agents/1/chat-threads through
 * (a) the upstream directly, (b) @fastify/http-proxy with a fixed token, (c) the BFF with the
 * in-process store, (d) the BFF with Redis; plus Redis round trips per proxied request.
 * Run alone: node --import tsx bench/proxied-call.ts
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { bffEnv, startServer } from './lib/processes.js'
import { loginCookie, untilReady } from './lib/session.js'
import type { Started } from './lib/processes.js'
import { wrk } from './lib/wrk.js'
import { monitorRedis } from '../test/helpers/redis-monitor.js'
import type { LoadResult } from './lib/wrk.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface ProxiedCallResults {
  rows: Array<{ target: string } & LoadResult>
  redisPerRequest: { reads: number, writes: number, requests: number }
}

export async function proxiedCall (): Promise<ProxiedCallResults> {
  const upstream = await startServer('bench/servers/fast-upstream.ts')
  // The load comes from one address; the log-in limit is not what is measured.
  const env = bffEnv({ authUrl: upstream.url, apiUrl: upstream.url }, { AUTH_RATE_LIMIT_PER_IP: '1000000' })
  const prefix = `bench-${randomBytes(4).toString('hex')}:`
  const servers: Started[] = []
  try {
    const proxy = await startServer('bench/servers/http-proxy.mjs', { UPSTREAM: upstream.url, LOG_LEVEL: 'warn' })
    const memory = await startServer('bench/servers/bff.mjs', env)
    const redis = await startServer('bench/servers/bff.mjs', { ...env, REDIS_URL, REDIS_KEY_PREFIX: prefix })
    servers.push(proxy, memory, redis)
    await untilReady(redis.url)
    const targets = [
      { target: '(a) upstream directly', url: `${upstream.url}/api/agent/1/chat-thread`, headers: { authorization: 'Bearer bench-token' } },
      { target: '(b) @fastify/http-proxy, fixed token', url: `${proxy.url}/api/agents/1/chat-threads`, headers: {} },
      { target: '(c) BFF, in-process store', url: `${memory.url}/api/agents/1/chat-threads`, headers: { cookie: await loginCookie(memory.url) } },
      { target: '(d) BFF, Redis store', url: `${redis.url}/api/agents/1/chat-threads`, headers: { cookie: await loginCookie(redis.url) } }
    ]
    // The machine is shared and noisy: every target is measured in each of ROUNDS interleaved
    // rounds, and the median round is kept, so that slow spells hit all targets alike.
    const runs = new Map<string, LoadResult[]>(targets.map((target) => [target.target, []]))
    for (const target of targets) await wrk(target.url, { seconds: 3, connections: CONNECTIONS, ...target.headers })
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) runs.get(target.target)?.push(await wrk(target.url, { seconds: SECONDS, connections: CONNECTIONS, ...target.headers }))
    }
    const rows = targets.map(({ target }) => ({ target, ...median(runs.get(target) ?? []) }))
    const redisPerRequest = await redisRoundTrips(redis, targets[3]?.headers.cookie ?? '', prefix)
    return { rows, redisPerRequest }
  } finally {
    for (const server of servers) await server.stop()
    await clean(prefix)
    await upstream.stop()
  }
}

function median (results: LoadResult[]): LoadResult {
  const sorted = [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)
  return sorted[Math.floor(sorted.length / 2)] as LoadResult
}

/** Counts the Redis commands one proxied request costs, in steady state, with MONITOR. */
async function redisRoundTrips (server: Started, cookie: string, prefix: string): Promise<ProxiedCallResults['redisPerRequest']> {
  const requests = 200
  const commands: string[][] = []
  // The instance's liveness heartbeat (`instance:<id>`, once a second) is not a request's cost.
  const monitor = monitorRedis(REDIS_URL, ({ args }) => {
    if (args.some((arg) => arg.startsWith(prefix)) && !args.some((arg) => arg.startsWith(`${prefix}instance:`))) commands.push(args)
  })
  await monitor.ready
  for (let index = 0; index < requests; index++) {
    const response = await request(`${server.url}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie } })
    await response.body.dump()
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  monitor.close()
  const reads = commands.filter(([name]) => ['hmget', 'hget', 'get', 'hgetall'].includes((name ?? '').toLowerCase())).length
  return { reads: reads / requests, writes: (commands.length - reads) / requests, requests }
}

async function clean (prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await proxiedCall(), null, 2))
}
