import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type { Cluster, RedisOptions } from 'ioredis'
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import { afterEach, beforeAll, beforeEach, describe } from 'vitest'
import { buildApp } from '../../src/app.js'
import type { Config } from '../../src/config/index.js'
import { sessionKeyNames } from '../../src/session/redis-store.js'
import { startSimulator } from '../../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../../src/simulator/index.js'
import { onCleanup, onFileCleanup, testConfig } from './app.js'
import type { CleanupScope } from './app.js'
import { freePort } from './ports.js'
import { directClient, ping } from './redis-process.js'
import { startRedisCluster } from './redis-cluster.js'
import type { RedisCluster } from './redis-cluster.js'
import { MASTER_NAME, startSentinelSet } from './redis-sentinel.js'
import type { SentinelSet } from './redis-sentinel.js'
import { makeCertificates, startTlsRedis } from './redis-tls.js'
import type { TestCertificates, TlsRedis } from './redis-tls.js'

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
const opensslBinary = spawnSync('openssl', ['version']).status === 0

/** The Redis modes a BFF runs against (issue 14), as REDIS_MODES may pick them: `single,sentinel`. */
export type RedisModeName = 'single' | 'cluster' | 'sentinel' | 'tls'

/**
 * Where the Redis tests run: the one Redis primary at REDIS_URL (shared with other test files:
 * each test keeps to its own key prefix), or a deployment of the file's own, started at the
 * file's first test of that mode and stopped after its last: a Redis Cluster (three primaries
 * and a replica each), a Sentinel set (a primary, its replica, three sentinels; the BFF waits
 * for the replica's acknowledgement of token saves, REDIS_WAIT_REPLICAS=1 by default), or a
 * TLS-only Redis with an ACL user and a private CA (as a managed Redis is). The file's own are
 * flushed before each test.
 */
export interface RedisDeployment {
  /** As test names say it. */
  name: string
  mode: RedisModeName
  cluster: boolean
  /** What a BFF instance needs to use it (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES, and credentials). */
  env: () => Record<string, string>
  /** A client of the test's own (a cluster client on a cluster, a sentinel client under Sentinel), closed after the test. */
  client: () => Redis | Cluster
  /** Connection options for each primary (TLS, user), for what goes to each server (SCAN, MONITOR). */
  primaries: () => Promise<RedisOptions[]>
  /** The key the session store gives a session (a hash tag on a cluster). */
  sessionKey: (prefix: string, id: string) => string
  /**
   * A deployment of this mode of the test's own, persisted (append-only, synced on every write)
   * and stopped after the test, for a test that takes it away: an outage.
   */
  startOwn: () => Promise<OwnDeployment>
}

/** A deployment one test owns and may take away (every process killed at once) and bring back with its data. */
export interface OwnDeployment {
  /** What a BFF needs to use it. */
  env: Record<string, string>
  /** The port the BFF's log lines name first (the server, the first sentinel, the first cluster node). */
  port: number
  /** SIGKILL every process of the deployment at once. */
  stop: () => Promise<void>
  /** Starts them again, as an operator would bring them back: primaries first. */
  start: () => Promise<void>
}

const TLS_USER = 'bff'

/** A deployment of the file's own, started once (at its first describe block) and stopped after the file. */
function perFile<T> (start: () => Promise<T>): { ensure: () => Promise<T>, started: (name: string) => T } {
  let starting: Promise<T> | undefined
  let value: T | undefined
  return {
    ensure: async () => {
      starting ??= start().then((started) => { value = started; return started })
      return await starting
    },
    started: (name) => {
      if (value === undefined) throw new Error(`${name} is not started: use describeOnRedis (its beforeAll starts it)`)
      return value
    }
  }
}

function sessionKeyOn (cluster: boolean): (prefix: string, id: string) => string {
  return (prefix, id) => sessionKeyNames(prefix, 'session:', cluster)(id)
}

export const oneRedis: RedisDeployment = {
  name: 'one Redis primary',
  mode: 'single',
  cluster: false,
  env: () => ({ REDIS_URL }),
  client: () => redisClient(),
  primaries: async () => [optionsOf(REDIS_URL)],
  sessionKey: sessionKeyOn(false),
  startOwn: async () => {
    const redis = await startOwnRedis()
    return { env: { REDIS_URL: redis.url }, port: redis.port, stop: redis.stop, start: redis.start }
  }
}

const fileCluster = perFile(async () => await startRedisCluster({ cleanup: onFileCleanup }))

export const redisCluster: RedisDeployment = {
  name: 'a Redis Cluster',
  mode: 'cluster',
  cluster: true,
  env: () => fileCluster.started('the Redis Cluster').env,
  client: () => fileCluster.started('the Redis Cluster').client(),
  primaries: async () => (await fileCluster.started('the Redis Cluster').primaries()).map(({ port }) => ({ host: '127.0.0.1', port })),
  sessionKey: sessionKeyOn(true),
  startOwn: async () => {
    // Three primaries and their replicas, every node killed at once.
    const redis = await startRedisCluster({ persist: true })
    return { env: redis.env, port: redis.nodes[0]?.port as number, stop: redis.stop, start: redis.start }
  }
}

/**
 * A sentinel takes a primary silent for `down-after-milliseconds` for dead. The file's set is
 * never taken away, so that is long here: a machine too busy to schedule Redis for a second
 * must not fail the primary over under a test that is not about fail-over.
 */
const fileSentinelSet = perFile(async () => await startSentinelSet({ downAfterMs: 10_000, failoverTimeoutMs: 20_000, cleanup: onFileCleanup }))

function sentinelClient (set: SentinelSet): Redis {
  const redis = new Redis({ sentinels: set.sentinels.map(({ port }) => ({ host: '127.0.0.1', port })), name: MASTER_NAME, ...set.serverOptions })
  onCleanup(async () => { redis.disconnect() })
  return redis
}

export const redisSentinel: RedisDeployment = {
  name: 'a Sentinel set',
  mode: 'sentinel',
  cluster: false,
  // Token saves wait for the replica, as the README recommends for a deployment with replicas (the default under Sentinel, said here).
  env: () => ({ ...fileSentinelSet.started('the Sentinel set').env, REDIS_WAIT_REPLICAS: '1' }),
  client: () => sentinelClient(fileSentinelSet.started('the Sentinel set')),
  primaries: async () => {
    const set = fileSentinelSet.started('the Sentinel set')
    return [{ host: '127.0.0.1', port: await set.primaryPort(), ...set.serverOptions }]
  },
  sessionKey: sessionKeyOn(false),
  startOwn: async () => {
    const set = await startSentinelSet({ persist: true })
    const processes = [set.primary, set.replica, ...set.sentinels]
    return {
      env: { ...set.env, REDIS_WAIT_REPLICAS: '1' },
      port: set.sentinels[0]?.port as number,
      // The whole set: with only the primary away the sentinels would fail over (redis-sentinel.test.ts).
      stop: async () => { await Promise.all(processes.map(async (server) => { await server.kill('SIGKILL') })) },
      // Each sentinel starts again from the configuration it rewrote (its peers, the replica, the epoch).
      start: async () => { for (const server of processes) await server.restart() }
    }
  }
}

interface TlsDeployment { redis: TlsRedis, certificates: TestCertificates, password: string }

async function startTlsDeployment (cleanup: CleanupScope, options: { persist?: boolean } = {}): Promise<TlsDeployment> {
  const certificates = await makeCertificates(cleanup)
  // Characters a URL would have to encode: the password goes in REDIS_PASSWORD, as given.
  const password = `tls:${randomBytes(9).toString('base64url')}@/`
  return { redis: await startTlsRedis(certificates, TLS_USER, password, cleanup, options), certificates, password }
}

function tlsEnv ({ redis, certificates, password }: TlsDeployment): Record<string, string> {
  return { REDIS_URL: `rediss://127.0.0.1:${redis.port}`, REDIS_USERNAME: TLS_USER, REDIS_PASSWORD: password, REDIS_TLS_CA: certificates.caFile }
}

function tlsOptions ({ redis, certificates, password }: TlsDeployment): RedisOptions {
  return { host: '127.0.0.1', port: redis.port, tls: { ca: certificates.ca }, username: TLS_USER, password }
}

const fileTls = perFile(async () => await startTlsDeployment(onFileCleanup))

export const redisTls: RedisDeployment = {
  name: 'a TLS-only Redis with a password',
  mode: 'tls',
  cluster: false,
  env: () => tlsEnv(fileTls.started('the TLS Redis')),
  client: () => directClient(tlsOptions(fileTls.started('the TLS Redis'))),
  primaries: async () => [tlsOptions(fileTls.started('the TLS Redis'))],
  sessionKey: sessionKeyOn(false),
  startOwn: async () => {
    const deployment = await startTlsDeployment(onCleanup, { persist: true })
    return { env: tlsEnv(deployment), port: deployment.redis.port, stop: async () => { await deployment.redis.kill('SIGKILL') }, start: deployment.redis.restart }
  }
}

/** The file's own deployment of a mode: started before the block's first test, flushed before each. */
const fileDeployments: Record<Exclude<RedisModeName, 'single'>, { ensure: () => Promise<unknown>, flush: () => Promise<void> }> = {
  cluster: { ensure: fileCluster.ensure, flush: async () => { await fileCluster.started('the Redis Cluster').flush() } },
  sentinel: { ensure: fileSentinelSet.ensure, flush: async () => { await flushAll(await redisSentinel.primaries()) } },
  tls: { ensure: fileTls.ensure, flush: async () => { await flushAll(await redisTls.primaries()) } }
}

async function flushAll (primaries: RedisOptions[]): Promise<void> {
  for (const options of primaries) {
    const redis = connection(options)
    try { await redis.flushall() } finally { redis.disconnect() }
  }
}

const clusterPossible = redisServerBinary && redisCliBinary
const ownPossible = redisServerBinary && opensslBinary
if (!clusterPossible && !required) console.warn('Redis Cluster tests skipped: no redis-server and redis-cli programs (set REQUIRE_REDIS=1 to make that a failure)')
if (!ownPossible && !required) console.warn('Redis Sentinel and TLS tests skipped: no redis-server and openssl programs (set REQUIRE_REDIS=1 to make that a failure)')

/**
 * REDIS_MODES (`single,cluster,sentinel,tls`, all by default) narrows the modes, to run one
 * mode's tests while working on it; CI leaves it unset.
 */
const wanted = (process.env.REDIS_MODES ?? 'single,cluster,sentinel,tls').split(',').map((mode) => mode.trim())
const unknownModes = wanted.filter((mode) => !['single', 'cluster', 'sentinel', 'tls'].includes(mode))
if (unknownModes.length > 0) throw new Error(`REDIS_MODES: unknown mode ${unknownModes.join(', ')} (single, cluster, sentinel, tls)`)

/** The deployments this machine can run (all of them with REQUIRE_REDIS=1), in REDIS_MODES. */
export const redisDeployments: RedisDeployment[] = [
  ...(redisAvailable || required ? [oneRedis] : []),
  ...(clusterPossible || required ? [redisCluster] : []),
  ...(ownPossible || required ? [redisSentinel, redisTls] : [])
].filter((deployment) => wanted.includes(deployment.mode))

/** The deployment the running test is in (describeOnRedis), whose keys testPrefix deletes. */
let current: RedisDeployment | undefined

/**
 * `describe` once per Redis deployment (`describe.each`): the one primary, and a cluster, a
 * Sentinel set and a TLS Redis of the file's own, each started before its block's first test
 * (once per file: blocks share it) and flushed (FLUSHALL on each primary) before each of its
 * tests. With `own: true` the block's tests start their own deployment (`startOwn`, an outage)
 * and none is started for the file. Without any deployment, one skipped block says so.
 */
export function describeOnRedis (title: string, body: (redis: RedisDeployment) => void, options: { own?: boolean } = {}): void {
  // A single primary of the test's own needs the redis-server program, not the shared Redis.
  const deployments = options.own === true ? redisDeployments.filter(({ mode }) => mode !== 'single' || redisServerBinary || required) : redisDeployments
  if (deployments.length === 0) {
    describe.skip(title, () => { body(oneRedis) })
    return
  }
  describe.each(deployments.map((deployment) => [deployment.name, deployment] as const))(`${title}, on %s`, (_name, deployment) => {
    if (deployment.mode !== 'single' && options.own !== true) {
      const own = fileDeployments[deployment.mode]
      beforeAll(async () => { await own.ensure() }, 60_000)
      beforeEach(async () => { await own.flush() })
    }
    beforeEach(() => { current = deployment })
    afterEach(() => { current = undefined })
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
    beforeAll(async () => { await fileCluster.ensure() }, 60_000)
    beforeEach(async () => { await fileCluster.started('the Redis Cluster').flush() })
    body(redisCluster)
  })
}

/** The file's Redis Cluster itself (processes, primaries), inside describeOnRedis or describeOnRedisCluster. */
export function theRedisCluster (): RedisCluster {
  return fileCluster.started('the Redis Cluster')
}

/** A Redis connection of the test's own, closed after the test. */
export function redisClient (): Redis {
  const redis = new Redis(REDIS_URL)
  onCleanup(async () => { redis.disconnect() })
  return redis
}

/** A key prefix no other test uses; its keys are deleted after the test (on every primary of the test's deployment). */
export function testPrefix (): string {
  const prefix = `bff-test-${randomBytes(6).toString('hex')}:`
  const deployment = current ?? oneRedis
  onCleanup(async () => {
    for (const primary of await deployment.primaries()) await deleteKeys(primary, `${prefix}*`)
  })
  return prefix
}

/** Every key (and its value, as text) under a pattern, on one server or every primary of a deployment: what an attacker dumping Redis would see. */
export async function dumpKeys (where: string | RedisOptions | RedisDeployment, pattern: string): Promise<Array<{ key: string, value: string }>> {
  if (typeof where !== 'string' && 'primaries' in where) {
    const dumps = await Promise.all((await where.primaries()).map(async (primary) => await dumpKeys(primary, pattern)))
    return dumps.flat()
  }
  const redis = connection(where)
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

/** A connection to one server (a URL, or options with TLS and a user), to be disconnected by the caller. */
function connection (target: string | RedisOptions): Redis {
  return typeof target === 'string' ? new Redis(target) : new Redis({ host: '127.0.0.1', ...target })
}

/** ioredis's options for a redis:// URL (what MONITOR and the markers connect with). */
function optionsOf (url: string): RedisOptions {
  const { hostname, port, username, password, pathname } = new URL(url)
  return {
    host: hostname,
    port: Number(port || 6379),
    ...(pathname.length > 1 ? { db: Number(pathname.slice(1)) } : {}),
    ...(username === '' ? {} : { username: decodeURIComponent(username) }),
    ...(password === '' ? {} : { password: decodeURIComponent(password) })
  }
}

async function deleteKeys (target: string | RedisOptions, pattern: string): Promise<void> {
  const redis = connection(target)
  try {
    // One DEL per key: a cluster node refuses a DEL of keys in different slots (CROSSSLOT).
    const keys = await scanAll(redis, pattern)
    const answers = keys.length === 0 ? [] : await redis.pipeline(keys.map((key) => ['del', key])).exec() ?? []
    for (const [error] of answers) if (error !== null) throw error
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

/** Polls `check` until it holds; fails with `message` (read when it fails, if a function) after `timeoutMs`. */
export async function waitUntil (check: () => Promise<boolean> | boolean, timeoutMs: number, message: string | (() => string), intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${typeof message === 'string' ? message : message()}`)
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
