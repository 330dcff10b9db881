import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type { Cluster } from 'ioredis'
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import { beforeAll, beforeEach, describe } from 'vitest'
import { buildApp } from '../../src/app.js'
import type { Config } from '../../src/config/index.js'
import { sessionKeyNames } from '../../src/session/redis-store.js'
import { startSimulator } from '../../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../../src/simulator/index.js'
import { onCleanup, onFileCleanup, testConfig } from './app.js'
import { freePort } from './ports.js'
import { ping } from './redis-process.js'
import { startRedisCluster } from './redis-cluster.js'
import type { RedisCluster } from './redis-cluster.js'

/**
 * Redis tests run against a real Redis (127.0.0.1:6379, or REDIS_TEST_URL). Without one they
 * are skipped with a one-line reason, unless REQUIRE_REDIS=1 (set by .ci/run): then they run
 * and fail, so CI can never pass without them.
 */
export const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379'
const required = process.env.REQUIRE_REDIS === '1'

export const redisAvailable = await ping(REDIS_URL)
export const redisServerBinary = spawnSync('redis-server', ['--version']).status === 0

if (redisAvailable && !redisServerBinary && !required) console.warn('Redis outage tests skipped: no redis-server program to start and stop (set REQUIRE_REDIS=1 to make that a failure)')
if (!redisAvailable && !required) console.warn(`Redis tests skipped: no Redis answers at ${REDIS_URL} (set REQUIRE_REDIS=1 to make that a failure)`)

/** `describe` for tests that need Redis: skipped without one, unless REQUIRE_REDIS=1. */
export const describeWithRedis = redisAvailable || required ? describe : describe.skip

/** `describe` for tests that start their own redis-server: skipped without the binary, unless REQUIRE_REDIS=1. */
export const describeWithRedisServer = (redisServerBinary && redisAvailable) || required ? describe : describe.skip

export const redisCliBinary = spawnSync('redis-cli', ['--version']).status === 0

/**
 * Where the Redis tests run: the one Redis primary at REDIS_URL (shared with other test files:
 * each test keeps to its own key prefix), or a Redis Cluster of the file's own (three primaries
 * and a replica each, flushed before every test).
 */
export interface RedisDeployment {
  /** As test names say it. */
  name: string
  cluster: boolean
  /** What a BFF instance needs to use it (REDIS_URL or REDIS_CLUSTER_NODES). */
  env: () => Record<string, string>
  /** A client of the test's own (a cluster client on a cluster), closed after the test. */
  client: () => Redis | Cluster
  /** redis:// URLs of the primaries, for what goes to each server (SCAN, MONITOR). */
  primaryUrls: () => Promise<string[]>
  /** The key the session store gives a session (a hash tag on a cluster). */
  sessionKey: (prefix: string, id: string) => string
}

export const oneRedis: RedisDeployment = {
  name: 'one Redis primary',
  cluster: false,
  env: () => ({ REDIS_URL }),
  client: () => redisClient(),
  primaryUrls: async () => [REDIS_URL],
  sessionKey: (prefix, id) => sessionKeyNames(prefix, 'session:', false)(id)
}

let fileCluster: Promise<RedisCluster> | undefined
let startedCluster: RedisCluster | undefined

/** The file's Redis Cluster: started at its first use, stopped after the file's last test. */
async function sharedCluster (): Promise<RedisCluster> {
  fileCluster ??= startRedisCluster({ cleanup: onFileCleanup }).then((started) => {
    startedCluster = started
    return started
  })
  return await fileCluster
}

function started (): RedisCluster {
  if (startedCluster === undefined) throw new Error('the Redis Cluster is not started: use describeOnRedis (its beforeAll starts it)')
  return startedCluster
}

export const redisCluster: RedisDeployment = {
  name: 'a Redis Cluster',
  cluster: true,
  env: () => started().env,
  client: () => started().client(),
  primaryUrls: async () => (await started().primaries()).map(({ port }) => `redis://127.0.0.1:${port}`),
  sessionKey: (prefix, id) => sessionKeyNames(prefix, 'session:', true)(id)
}

const clusterPossible = redisServerBinary && redisCliBinary
if (!clusterPossible && !required) console.warn('Redis Cluster tests skipped: no redis-server and redis-cli programs (set REQUIRE_REDIS=1 to make that a failure)')

/** The deployments this machine can run: one primary when it answers, a cluster when redis-server and redis-cli are here (both with REQUIRE_REDIS=1). */
export const redisDeployments: RedisDeployment[] = [
  ...(redisAvailable || required ? [oneRedis] : []),
  ...(clusterPossible || required ? [redisCluster] : [])
]

/**
 * `describe` once per Redis deployment (`describe.each`): the one primary, and a cluster of
 * the file's own, started before the block's first test and flushed (FLUSHALL on each
 * primary) before each of its tests. Without any, one skipped block says so.
 */
export function describeOnRedis (title: string, body: (redis: RedisDeployment) => void): void {
  if (redisDeployments.length === 0) {
    describe.skip(title, () => { body(oneRedis) })
    return
  }
  describe.each(redisDeployments.map((deployment) => [deployment.name, deployment] as const))(`${title}, on %s`, (_name, deployment) => {
    if (deployment.cluster) {
      beforeAll(async () => { await sharedCluster() }, 60_000)
      beforeEach(async () => { await started().flush() })
    }
    body(deployment)
  })
}

/** `describe` for what only a Redis Cluster has (hash slots, one primary of several away): the file's cluster, as in describeOnRedis. */
export function describeOnRedisCluster (title: string, body: (redis: RedisDeployment) => void): void {
  if (!clusterPossible && !required) {
    describe.skip(title, () => { body(redisCluster) })
    return
  }
  describe(title, () => {
    beforeAll(async () => { await sharedCluster() }, 60_000)
    beforeEach(async () => { await started().flush() })
    body(redisCluster)
  })
}

/** The file's Redis Cluster itself (processes, primaries), inside describeOnRedis or describeOnRedisCluster. */
export function theRedisCluster (): RedisCluster {
  return started()
}

/** A Redis connection of the test's own, closed after the test. */
export function redisClient (): Redis {
  const redis = new Redis(REDIS_URL)
  onCleanup(async () => { redis.disconnect() })
  return redis
}

/** A key prefix no other test uses; its keys are deleted after the test. */
export function testPrefix (): string {
  const prefix = `bff-test-${randomBytes(6).toString('hex')}:`
  onCleanup(async () => { await deleteKeys(REDIS_URL, `${prefix}*`) })
  return prefix
}

/** Every key (and its value, as text) under a pattern, on one server or every primary of a deployment: what an attacker dumping Redis would see. */
export async function dumpKeys (where: string | RedisDeployment, pattern: string): Promise<Array<{ key: string, value: string }>> {
  if (typeof where !== 'string') {
    const dumps = await Promise.all((await where.primaryUrls()).map(async (url) => await dumpKeys(url, pattern)))
    return dumps.flat()
  }
  const redis = new Redis(where)
  try {
    const keys = await scanAll(redis, pattern)
    const dump: Array<{ key: string, value: string }> = []
    for (const key of keys) {
      const type = await redis.type(key)
      const value = type === 'hash'
        ? JSON.stringify(await redis.hgetall(key))
        : type === 'set'
          ? JSON.stringify(await redis.smembers(key))
          : type === 'zset' ? JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES')) : String(await redis.get(key))
      dump.push({ key, value })
    }
    return dump
  } finally {
    redis.disconnect()
  }
}

async function deleteKeys (url: string, pattern: string): Promise<void> {
  const redis = new Redis(url)
  try {
    const keys = await scanAll(redis, pattern)
    if (keys.length > 0) await redis.del(...keys)
  } finally {
    redis.disconnect()
  }
}

async function scanAll (redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  return keys
}

export interface OwnRedis {
  url: string
  port: number
  /** Kills the server (an outage with dropped connections); `start` brings it back with its data. */
  stop: () => Promise<void>
  start: () => Promise<void>
  /** Freezes the server (SIGSTOP): connections stay open and commands hang, as in a stalled host. */
  pause: () => void
  resume: () => void
}

/**
 * A throwaway redis-server on a free port that a test can stop and start again (an outage).
 * Like a production Redis it persists (an append-only file synced on every write, in its own
 * folder), so what was written before a stop is there after the start, even after SIGKILL.
 */
export async function startOwnRedis (): Promise<OwnRedis> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'bff-redis-'))
  onCleanup(async () => { await rm(dir, { recursive: true, force: true }) })
  let server: ReturnType<typeof spawn> | undefined
  const start = async (): Promise<void> => {
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' })
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await ping(`redis://127.0.0.1:${port}`)) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`redis-server on port ${port} did not start`)
  }
  const stop = async (): Promise<void> => {
    const running = server
    // A killed process has a signalCode, not an exitCode: without this, a second stop() waits forever.
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGKILL')
    await exited
  }
  const signal = (name: NodeJS.Signals): void => { server?.kill(name) }
  await start()
  onCleanup(async () => {
    signal('SIGCONT')
    await stop()
  })
  return { url: `redis://127.0.0.1:${port}`, port, stop, start, pause: () => { signal('SIGSTOP') }, resume: () => { signal('SIGCONT') } }
}

/** One BFF instance listening on a real port (several can share one Redis and one simulator). */
export interface Instance {
  app: FastifyInstance
  url: string
  config: Config
  /** Every log line this instance wrote. */
  logs: string[]
  /** Closes the instance (idempotent; also done after the test). */
  close: () => Promise<void>
}

/**
 * Builds and starts a listening BFF instance on a random port, closed after the test.
 * By default waits until /readyz answers 200 (its Redis connection is up).
 */
export async function startInstance (config: Config, options: { waitReady?: boolean } = {}): Promise<Instance> {
  const logs: string[] = []
  const app = await buildApp({ config, logStream: { write: (line: string) => { logs.push(line) } } })
  let closed: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closed ??= app.close().then(() => {})
    await closed
  }
  onCleanup(close)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const instance = { app, url: `http://127.0.0.1:${port}`, config, logs, close }
  if (options.waitReady !== false) {
    await waitUntil(async () => (await call(instance, 'GET', '/readyz')).status === 200, 10_000, `${instance.url}/readyz never answered 200`)
  }
  return instance
}

export interface CallAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any
  /** The `name=value` of the session cookie this answer set, '' when it cleared it, undefined when untouched. */
  cookie: string | undefined
}

/** A real HTTP call to an instance, carrying the cookie header itself (no Origin, no Sec-Fetch-Site: like curl). */
export async function call (instance: Pick<Instance, 'url' | 'config'>, method: Dispatcher.HttpMethod, path: string, options: { cookie?: string, json?: unknown, headers?: Record<string, string> } = {}): Promise<CallAnswer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.cookie !== undefined) headers.cookie = options.cookie
  if (options.json !== undefined) headers['content-type'] = 'application/json'
  const answer = await request(instance.url + path, {
    method,
    headers,
    ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) })
  })
  const text = await answer.body.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  const setCookie = answer.headers['set-cookie']
  const lines = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]
  const ours = lines.filter((line) => line.startsWith(`${instance.config.session.cookieName}=`)).at(-1)
  const cookie = ours === undefined ? undefined : ours.split(';')[0] as string
  return {
    status: answer.statusCode,
    headers: answer.headers,
    text,
    json,
    cookie: cookie === undefined ? undefined : cookie.endsWith('=') ? '' : cookie
  }
}

/** Logs in over HTTP and answers the cookie header to send next. */
export async function loginOver (instance: Pick<Instance, 'url' | 'config'>, credentials: { email: string, password: string }): Promise<string> {
  const answer = await call(instance, 'POST', '/auth/login', { json: credentials })
  if (answer.status !== 200 || answer.cookie === undefined || answer.cookie === '') throw new Error(`log-in failed: ${answer.status} ${answer.text}`)
  return answer.cookie
}

/** Polls `check` until it holds; fails with `message` after `timeoutMs`. */
export async function waitUntil (check: () => Promise<boolean> | boolean, timeoutMs: number, message: string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Instances sharing one Redis (a cluster of BFF instances; not to be confused with a Redis Cluster). */
export interface Instances {
  sim: Simulator
  a: Instance
  b: Instance
  /** The Redis key prefix every instance of the cluster shares. */
  prefix: string
  /** Another instance on the same Redis prefix, simulator and secret (a restart, a scale-out). */
  another: () => Promise<Instance>
}

/** One simulator, one Redis prefix, one secret, two listening BFF instances (on the one Redis primary unless `redis` says otherwise). */
export async function cluster (options: { sim?: SimulatorOptions, env?: Record<string, string>, redis?: RedisDeployment } = {}): Promise<Instances> {
  const sim = await startSimulator(options.sim)
  onCleanup(sim.close)
  const env = {
    ...(options.redis ?? oneRedis).env(),
    REDIS_KEY_PREFIX: testPrefix(),
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    ...options.env
  }
  const another = async (): Promise<Instance> => await startInstance(testConfig(sim, env))
  return { sim, a: await another(), b: await another(), prefix: env.REDIS_KEY_PREFIX, another }
}
