import { spawn } from 'node:child_process'
import { Cluster, Redis } from 'ioredis'
import { onCleanup } from './app.js'
import type { CleanupScope } from './app.js'
import { freePort } from './ports.js'
import { directClient, startRedisProcess, tempFolder } from './redis-process.js'
import type { RedisProcess } from './redis-process.js'

export interface RedisClusterOptions {
  /** Primaries (3, the fewest `redis-cli --cluster create` takes). */
  primaries?: number
  /** A replica for each primary (true by default: 6 processes). */
  replicas?: boolean
  /** How long a node must be silent before the others call it failed (and its replica takes over). */
  nodeTimeoutMs?: number
  /**
   * Append-only file synced on every write, so that what was written before a kill is there after
   * a start (an outage). Off by default: a cluster for one test file starts empty and stays in memory.
   */
  persist?: boolean
  /** When to stop every process (after the test by default; onFileCleanup for a file's shared cluster). */
  cleanup?: CleanupScope
}

/** A Redis Cluster of redis-server processes on free loopback ports, created with `redis-cli --cluster create`. */
export interface RedisCluster {
  nodes: RedisProcess[]
  /** REDIS_CLUSTER_NODES for a BFF: every node, as host:port. */
  env: Record<string, string>
  /** The nodes that are primaries now (after a fail-over, a former replica), with their slot ranges. */
  primaries: () => Promise<Array<{ port: number, slots: Array<[number, number]> }>>
  /** A connection straight to one node (no redirections), closed after the test. */
  direct: (port: number) => Redis
  /** A cluster client of the test's own, closed after the test. */
  client: () => Cluster
  /** FLUSHALL on every primary (replicas follow). */
  flush: () => Promise<void>
  /** SIGSTOP / SIGCONT every node: connections stay open and commands hang, as in a stalled network. */
  pause: () => Promise<void>
  resume: () => Promise<void>
  /** SIGKILL every node; `start` brings them back with their cluster configuration (and data, with `persist`). */
  stop: () => Promise<void>
  start: () => Promise<void>
  /** Resolves once every node says cluster_state:ok and every replica's link to its primary is up. */
  healthy: (timeoutMs?: number) => Promise<void>
}

/**
 * Starts the nodes (`--cluster-enabled yes`, each with its own folder for nodes.conf and its own
 * bus port), creates the cluster (`redis-cli --cluster create ... --cluster-replicas 1
 * --cluster-yes`) and waits until it is healthy. Every process is stopped with `cleanup`, also
 * when something fails half-way.
 */
export async function startRedisCluster (options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const { primaries: primaryCount = 3, replicas = true, nodeTimeoutMs = 2000, persist = false, cleanup = onCleanup } = options
  const count = primaryCount * (replicas ? 2 : 1)
  const ports = await distinctFreePorts(count * 2)
  const persistence = persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
  const nodes = await Promise.all(Array.from({ length: count }, async (_, index) => {
    const port = ports[index * 2] as number
    const dir = await tempFolder('redis-cluster-node', cleanup)
    return await startRedisProcess({
      args: [
        '--port', String(port), '--cluster-port', String(ports[index * 2 + 1]), '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs),
        '--save', '', ...persistence
      ],
      port,
      dir,
      cleanup
    })
  }))
  const addresses = nodes.map(({ port }) => `127.0.0.1:${port}`)
  await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', replicas ? '1' : '0', '--cluster-yes'])

  const direct = (port: number): Redis => directClient({ port }, cleanup)
  const connections = new Map(nodes.map(({ port }) => [port, direct(port)]))
  const connection = (port: number): Redis => connections.get(port) ?? direct(port)

  const healthy = async (timeoutMs = 20_000): Promise<void> => {
    await until(async () => {
      for (const { port } of nodes) {
        const redis = connection(port)
        const info = await redis.cluster('INFO').catch(() => '')
        if (!/^cluster_state:ok\r?$/m.test(info) || !new RegExp(`^cluster_known_nodes:${count}\\r?$`, 'm').test(info)) return false
        const replication = await redis.info('replication').catch(() => '')
        if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false
      }
      return true
    }, timeoutMs, 'the cluster never became healthy')
  }
  await healthy()

  const primaries = async (): Promise<Array<{ port: number, slots: Array<[number, number]> }>> => {
    for (const { port } of nodes) {
      const slots = await connection(port).cluster('SLOTS').catch(() => undefined) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]> | undefined
      if (slots === undefined) continue
      const byPort = new Map<number, Array<[number, number]>>()
      for (const [from, to, [, primaryPort]] of slots) byPort.set(primaryPort, [...byPort.get(primaryPort) ?? [], [from, to]])
      return [...byPort].map(([primaryPort, ranges]) => ({ port: primaryPort, slots: ranges }))
    }
    throw new Error('no cluster node answers CLUSTER SLOTS')
  }
  const env = { REDIS_CLUSTER_NODES: addresses.join(',') }
  return {
    nodes,
    env,
    primaries,
    direct,
    client: () => clusterClient(env.REDIS_CLUSTER_NODES, cleanup),
    flush: async () => {
      for (const { port } of await primaries()) await connection(port).flushall()
    },
    pause: async () => { await Promise.all(nodes.map(async (node) => { await node.kill('SIGSTOP') })) },
    resume: async () => { await Promise.all(nodes.map(async (node) => { await node.kill('SIGCONT') })) },
    stop: async () => { await Promise.all(nodes.map(async (node) => { await node.kill('SIGKILL') })) },
    start: async () => {
      await Promise.all(nodes.map(async (node) => { await node.restart() }))
      await healthy()
    },
    healthy
  }
}

/** A cluster client on `host:port,...` (no retries per command: a dead node is an error at once), closed with `cleanup`. */
export function clusterClient (seeds: string, cleanup: CleanupScope = onCleanup): Cluster {
  const cluster = new Cluster(seeds.split(',').map((seed) => ({ host: seed.split(':')[0] as string, port: Number(seed.split(':')[1]) })), {
    redisOptions: { maxRetriesPerRequest: 0 }
  })
  cluster.on('error', () => {})
  cleanup(async () => { cluster.disconnect() })
  return cluster
}

/** Ports that were free a moment ago, none twice (each node needs two: clients and the cluster bus). */
async function distinctFreePorts (count: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort())
  return [...ports]
}

async function run (command: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    child.once('error', reject)
    child.once('close', (code) => {
      if (code === 0) resolve(output)
      else reject(new Error(`${command} ${args.join(' ')} exited with ${String(code)}: ${output}`))
    })
  })
}

async function until (check: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
