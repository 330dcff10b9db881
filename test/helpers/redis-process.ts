import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { RedisOptions } from 'ioredis'
import { onCleanup } from './app.js'
import type { CleanupScope } from './app.js'

/** A redis-server (or sentinel) process a test started on its own port. */
export interface RedisProcess {
  port: number
  /** Everything it printed (its log). */
  output: () => string
  /** Sends a signal and, for SIGKILL/SIGTERM, waits for the exit. */
  kill: (signal?: NodeJS.Signals) => Promise<void>
  /** Starts it again with the same arguments and port (after a kill). */
  restart: () => Promise<void>
  running: () => boolean
}

/** A temporary folder, removed with `cleanup`. */
export async function tempFolder (name: string, cleanup: CleanupScope = onCleanup): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), `bff-${name}-`))
  cleanup(async () => { await rm(folder, { recursive: true, force: true }) })
  return folder
}

/**
 * `redis-server <args>` in `dir`, logging to its stdout, no persistence unless `args` asks.
 * Ready once `ready` answers (by default, a PING with `client` options succeeds); killed with
 * `cleanup` (after the test by default) even when the test failed.
 */
export async function startRedisProcess (options: {
  args: string[]
  port: number
  dir: string
  client?: RedisOptions
  cleanup?: CleanupScope
}): Promise<RedisProcess> {
  const { args, port, dir, cleanup = onCleanup } = options
  let child: ChildProcess | undefined
  let output = ''
  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null
  const start = async (): Promise<void> => {
    const started = spawn('redis-server', [...args, '--dir', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    child = started
    started.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    started.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    const answers = async (): Promise<boolean> => await ping({ host: '127.0.0.1', port, ...options.client })
    for (let attempt = 0; attempt < 200; attempt++) {
      if (!running()) throw new Error(`redis-server on port ${port} exited at start: ${output}`)
      if (await answers()) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`redis-server on port ${port} did not answer in time: ${output}`)
  }
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const current = child
    if (current === undefined || !running()) return
    const exited = new Promise((resolve) => current.once('exit', resolve))
    current.kill(signal)
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited
  }
  cleanup(async () => {
    child?.kill('SIGCONT')
    await kill('SIGKILL')
  })
  await start()
  return { port, output: () => output, kill, restart: start, running }
}

/** True when a PING to this URL, or with these options, answers PONG within a second. */
export async function ping (target: string | RedisOptions): Promise<boolean> {
  const probeOptions: RedisOptions = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 }
  const probe = typeof target === 'string' ? new Redis(target, probeOptions) : new Redis({ ...probeOptions, ...target })
  probe.on('error', () => {})
  try {
    await probe.connect()
    return (await probe.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

/** A connection of the test's own (no retries: a dead server is an error at once), closed after the test. */
export function directClient (options: RedisOptions, cleanup: CleanupScope = onCleanup): Redis {
  const redis = new Redis({ host: '127.0.0.1', maxRetriesPerRequest: 0, ...options })
  redis.on('error', () => {})
  cleanup(async () => { redis.disconnect() })
  return redis
}

/** Every hash that holds a session record (`d`) under `prefix`, with its record and version: layout-independent. */
export async function sessionRecords (redis: Redis, prefix: string): Promise<Map<string, { d: string, v: string }>> {
  const records = new Map<string, { d: string, v: string }>()
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      if (await redis.type(key) !== 'hash') continue
      const [d, v] = await redis.hmget(key, 'd', 'v')
      if (d !== null && d !== undefined) records.set(key, { d, v: v ?? '' })
    }
  } while (cursor !== '0')
  return records
}
