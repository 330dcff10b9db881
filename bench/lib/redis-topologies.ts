/**
 * The three Redis topologies a BFF can run on, each started from redis-server processes of the
 * bench's own on free loopback ports (never the shared Redis on 6379), in memory only: one
 * primary, a primary + replica + 3 sentinels, a 3-primary cluster with a replica each. The test
 * helpers (test/helpers/redis-*.ts) do the same, but they are tied to vitest's hooks.
 * Every process is killed and every folder removed if the bench process ends first.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { killOnExit, removeOnExit } from '../chaos/on-exit.js'
import { freePort } from '../chaos/ports.js'

const run = promisify(execFile)

export interface Topology {
  /** What a BFF needs to use it: REDIS_URL, REDIS_SENTINELS (+ master) or REDIS_CLUSTER_NODES. */
  env: Record<string, string>
  /** How many redis-server processes it runs. */
  processes: number
  stop: () => Promise<void>
}

const MASTER_NAME = 'bench-sessions'

/** A group of redis-server processes and their folders, stopped together. */
class Group {
  private readonly stops: Array<() => Promise<void>> = []

  /** `redis-server <args>` (or a sentinel) in a folder of its own; resolves when it answers PING. */
  async start (port: number, args: (dir: string) => Promise<string[]>): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'bff-bench-redis-'))
    const forget = removeOnExit(dir)
    const child = spawn('redis-server', [...await args(dir), '--dir', dir], { cwd: dir, stdio: 'ignore' })
    killOnExit(child)
    child.once('error', () => {})
    const exited = new Promise((resolve) => child.once('exit', resolve))
    this.stops.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
      await rm(dir, { recursive: true, force: true })
      forget()
    })
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited at start`)
      return await withClient(port, async (redis) => (await redis.ping()) === 'PONG')
    }, 10_000, `redis-server on port ${port} never answered`)
  }

  async stop (): Promise<void> {
    await Promise.all(this.stops.splice(0).map(async (stop) => { await stop() }))
  }
}

const serverArgs = (port: number, extra: string[] = []): string[] =>
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra]

/** Starts a topology; on a failure half-way, whatever did start is stopped before the error goes on. */
async function startGroup (build: (group: Group) => Promise<Record<string, string>>, processes: number): Promise<Topology> {
  const group = new Group()
  try {
    return { env: await build(group), processes, stop: async () => { await group.stop() } }
  } catch (error) {
    await group.stop()
    throw error
  }
}

export async function startSingle (): Promise<Topology> {
  return await startGroup(async (group) => {
    const port = await freePort()
    await group.start(port, async () => serverArgs(port))
    return { REDIS_URL: `redis://127.0.0.1:${port}` }
  }, 1)
}

/** A primary, its replica (replication up) and 3 sentinels that see the replica and each other. */
export async function startSentinelSet (): Promise<Topology> {
  const sentinelCount = 3
  return await startGroup(async (group) => {
    const primary = await freePort()
    const replica = await freePort()
    await group.start(primary, async () => serverArgs(primary))
    await group.start(replica, async () => serverArgs(replica, ['--replicaof', '127.0.0.1', String(primary)]))
    await until(async () => await withClient(replica, async (redis) => (await redis.info('replication')).includes('master_link_status:up')), 15_000, 'the replica never synchronised')
    const sentinels: number[] = []
    for (let index = 0; index < sentinelCount; index++) {
      const port = await freePort()
      sentinels.push(port)
      // Slow to call a primary down: a loaded machine must not stage a fail-over mid-round.
      await group.start(port, async (dir) => {
        const lines = [
          'bind 127.0.0.1', `port ${port}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary} ${Math.floor(sentinelCount / 2) + 1}`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 10000`,
          `sentinel failover-timeout ${MASTER_NAME} 30000`
        ]
        // A sentinel rewrites its configuration file: each has its own, in its own folder.
        await writeFile(join(dir, 'sentinel.conf'), `${lines.join('\n')}\n`)
        return [join(dir, 'sentinel.conf'), '--sentinel']
      })
    }
    await until(async () => {
      for (const port of sentinels) {
        const seen = await withClient(port, async (redis) => {
          const flat = await redis.call('SENTINEL', 'master', MASTER_NAME) as string[]
          const state = new Map<string, string>()
          for (let index = 0; index + 1 < flat.length; index += 2) state.set(flat[index] as string, flat[index + 1] as string)
          return state.get('num-slaves') === '1' && state.get('num-other-sentinels') === String(sentinelCount - 1) && state.get('flags') === 'master'
        })
        if (!seen) return false
      }
      return true
    }, 30_000, 'the sentinels never saw the replica and each other')
    return { REDIS_SENTINELS: sentinels.map((port) => `127.0.0.1:${port}`).join(','), REDIS_SENTINEL_MASTER: MASTER_NAME }
  }, 2 + sentinelCount)
}

/** Three primaries with a replica each (`redis-cli --cluster create`), healthy on every node. */
export async function startCluster (): Promise<Topology> {
  const count = 6
  return await startGroup(async (group) => {
    const ports = new Set<number>()
    while (ports.size < count * 2) ports.add(await freePort())
    const [clientPorts, busPorts] = [[...ports].slice(0, count), [...ports].slice(count)]
    await Promise.all(clientPorts.map(async (port, index) => {
      await group.start(port, async () => serverArgs(port, [
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPorts[index]), '--cluster-node-timeout', '5000'
      ]))
    }))
    const addresses = clientPorts.map((port) => `127.0.0.1:${port}`)
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'])
    await until(async () => {
      for (const port of clientPorts) {
        const healthy = await withClient(port, async (redis) => {
          const info = await redis.cluster('INFO')
          const replication = await redis.info('replication')
          return /^cluster_state:ok\r?$/m.test(info) && new RegExp(`^cluster_known_nodes:${count}\\r?$`, 'm').test(info) &&
            (!replication.includes('role:slave') || replication.includes('master_link_status:up'))
        })
        if (!healthy) return false
      }
      return true
    }, 30_000, 'the cluster never became healthy')
    return { REDIS_CLUSTER_NODES: addresses.join(',') }
  }, count)
}

/** One short-lived connection (no retries, no queue): false when the server does not answer. */
async function withClient (port: number, use: (redis: Redis) => Promise<boolean>): Promise<boolean> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return await use(redis)
  } catch {
    return false
  } finally {
    redis.disconnect()
  }
}

async function until (check: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
