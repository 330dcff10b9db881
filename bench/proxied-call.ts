/**
 * Proxied call: throughput and latency of POST /api/agents/1/chat-threads through
 * (a) the upstream directly, (b) @fastify/http-proxy with a fixed token, (c) the BFF with the
 * in-process store, (d) the BFF with Redis; plus Redis round trips per proxied request.
 * Run alone: node --import tsx bench/proxied-call.ts
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { startServer } from './lib/processes.js'
import { loginCookie, untilReady } from './lib/session.js'
import type { Started } from './lib/processes.js'
import { wrk } from './lib/wrk.js'
import type { LoadResult } from './lib/wrk.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface ProxiedCallResults {
  rows: Array<{ target: string } & LoadResult>
  redisPerRequest: { reads: number, writes: number, requests: number }
}

export async function proxiedCall (): Promise<ProxiedCallResults> {
  const upstream = await startServer('bench/servers/fast-upstream.ts')
  const rows: ProxiedCallResults['rows'] = []
  const bffEnv = {
    EJENTO_AUTH_URL: upstream.url,
    EJENTO_API_URL: upstream.url,
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    COOKIE_SECURE: 'false',
    LOG_LEVEL: 'warn',
    // The load comes from one address; the log-in limit is not what is measured.
    AUTH_RATE_LIMIT_PER_IP: '1000000'
  }
  try {
    rows.push({ target: '(a) upstream directly', ...await measure(`${upstream.url}/api/agent/1/chat-thread`, { authorization: 'Bearer bench-token' }) })

    const proxy = await startServer('bench/servers/http-proxy.ts', { UPSTREAM: upstream.url, LOG_LEVEL: 'warn' })
    rows.push({ target: '(b) @fastify/http-proxy, fixed token', ...await measure(`${proxy.url}/api/agents/1/chat-threads`, {}) })
    await proxy.stop()

    const memory = await startServer('bench/servers/bff.ts', bffEnv)
    rows.push({ target: '(c) BFF, in-process store', ...await measure(`${memory.url}/api/agents/1/chat-threads`, { cookie: await loginCookie(memory.url) }) })
    await memory.stop()

    const prefix = `bench-${randomBytes(4).toString('hex')}:`
    const redis = await startServer('bench/servers/bff.ts', { ...bffEnv, REDIS_URL, REDIS_KEY_PREFIX: prefix })
    await untilReady(redis.url)
    const cookie = await loginCookie(redis.url)
    rows.push({ target: '(d) BFF, Redis store', ...await measure(`${redis.url}/api/agents/1/chat-threads`, { cookie }) })
    const redisPerRequest = await redisRoundTrips(redis, cookie, prefix)
    await redis.stop()
    await clean(prefix)
    return { rows, redisPerRequest }
  } finally {
    await upstream.stop()
  }
}

async function measure (url: string, headers: { cookie?: string, authorization?: string }): Promise<LoadResult> {
  await wrk(url, { seconds: 3, connections: CONNECTIONS, ...headers })
  return await wrk(url, { seconds: SECONDS, connections: CONNECTIONS, ...headers })
}

/** Counts the Redis commands one proxied request costs, in steady state, with MONITOR. */
async function redisRoundTrips (server: Started, cookie: string, prefix: string): Promise<ProxiedCallResults['redisPerRequest']> {
  const requests = 200
  const monitor = await new Redis(REDIS_URL).monitor()
  const commands: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((arg) => arg.startsWith(prefix))) commands.push(args)
  })
  await new Promise((resolve) => setTimeout(resolve, 100))
  for (let index = 0; index < requests; index++) {
    const response = await request(`${server.url}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie } })
    await response.body.dump()
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  monitor.disconnect()
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
