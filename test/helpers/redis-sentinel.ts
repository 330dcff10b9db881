import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Redis, RedisOptions } from 'ioredis'
import { onCleanup } from './app.js'
import type { CleanupScope } from './app.js'
import { freePort } from './ports.js'
import { directClient, startRedisProcess, tempFolder } from './redis-process.js'
import type { RedisProcess } from './redis-process.js'
import { aclArguments, tlsArguments } from './redis-tls.js'
import type { TestCertificates } from './redis-tls.js'

export const MASTER_NAME = 'bff-sessions'

export interface SentinelSetOptions {
  /** How many sentinels (3 by default; quorum is a majority). */
  sentinels?: number
  /** How long a primary must be silent before the sentinels call it down (fast for tests). */
  downAfterMs?: number
  failoverTimeoutMs?: number
  /** Append-only files synced on every write, so that the whole set killed and started again keeps its data (an outage). */
  persist?: boolean
  /** TLS everywhere (Redis servers, replication, sentinels), an ACL user on the servers and a password on the sentinels. */
  tls?: { certificates: TestCertificates, user: string, password: string, sentinelPassword: string }
  cleanup?: CleanupScope
}

/** A primary, its replica and sentinels watching them, all on free loopback ports. */
export interface SentinelSet {
  primary: RedisProcess
  replica: RedisProcess
  sentinels: RedisProcess[]
  /** What a BFF needs to find the primary: REDIS_SENTINELS, REDIS_SENTINEL_MASTER (and TLS, credentials when asked). */
  env: Record<string, string>
  /** Options for a direct connection to one of the Redis servers (TLS, user). */
  serverOptions: RedisOptions
  /** The port the sentinels name as the primary now. */
  primaryPort: () => Promise<number>
  /** Waits until every sentinel names `port` as the primary. */
  waitForPrimary: (port: number, timeoutMs: number) => Promise<void>
}

/**
 * Starts a primary and a replica (replication up), then the sentinels (`redis-server <conf>
 * --sentinel`), and waits until every sentinel sees the replica and all the other sentinels:
 * only then can they agree on a fail-over.
 */
export async function startSentinelSet (options: SentinelSetOptions = {}): Promise<SentinelSet> {
  const { sentinels: count = 3, downAfterMs = 1000, failoverTimeoutMs = 1500, persist = false, tls, cleanup = onCleanup } = options
  const serverOptions: RedisOptions = tls === undefined ? {} : { tls: { ca: tls.certificates.ca }, username: tls.user, password: tls.password }
  const sentinelOptions: RedisOptions = tls === undefined ? {} : { tls: { ca: tls.certificates.ca }, password: tls.sentinelPassword }
  const serverArguments = async (port: number): Promise<string[]> => [
    '--bind', '127.0.0.1', '--save', '', ...(persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(tls === undefined
      ? ['--port', String(port)]
      : [...tlsArguments(tls.certificates, port), '--tls-replication', 'yes', ...aclArguments(tls.user, tls.password, persist), '--masteruser', tls.user, '--masterauth', tls.password])
  ]
  const start = async (name: string, extra: string[] = []): Promise<RedisProcess> => {
    const port = await freePort()
    return await startRedisProcess({ args: [...await serverArguments(port), ...extra], port, dir: await tempFolder(name, cleanup), client: serverOptions, cleanup })
  }
  const primary = await start('redis-primary')
  const replica = await start('redis-replica', ['--replicaof', '127.0.0.1', String(primary.port)])
  const replicaClient = directClient({ port: replica.port, ...serverOptions }, cleanup)
  await until(async () => (await replicaClient.info('replication')).includes('master_link_status:up'), 10_000, 'the replica never synchronised')

  const sentinels: RedisProcess[] = []
  for (let index = 0; index < count; index++) {
    const port = await freePort()
    const dir = await tempFolder('redis-sentinel', cleanup)
    const lines = [
      'bind 127.0.0.1',
      ...(tls === undefined
        ? [`port ${port}`]
        : ['port 0', `tls-port ${port}`, `tls-cert-file ${tls.certificates.certFile}`, `tls-key-file ${tls.certificates.keyFile}`,
            `tls-ca-cert-file ${tls.certificates.caFile}`, 'tls-auth-clients no', 'tls-replication yes', `requirepass ${tls.sentinelPassword}`]),
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary.port} ${Math.floor(count / 2) + 1}`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${downAfterMs}`,
      `sentinel failover-timeout ${MASTER_NAME} ${failoverTimeoutMs}`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      ...(tls === undefined ? [] : [`sentinel auth-user ${MASTER_NAME} ${tls.user}`, `sentinel auth-pass ${MASTER_NAME} ${tls.password}`])
    ]
    // A sentinel rewrites its configuration file: each has its own, in its own folder.
    await writeFile(join(dir, 'sentinel.conf'), `${lines.join('\n')}\n`)
    sentinels.push(await startRedisProcess({ args: [join(dir, 'sentinel.conf'), '--sentinel'], port, dir, client: sentinelOptions, cleanup }))
  }
  const sentinelClients = sentinels.map((sentinel) => directClient({ port: sentinel.port, ...sentinelOptions }, cleanup))
  await until(async () => {
    for (const client of sentinelClients) {
      const master = await masterState(client)
      if (master['num-slaves'] !== '1' || master['num-other-sentinels'] !== String(count - 1) || master.flags !== 'master') return false
    }
    return true
  }, 20_000, 'the sentinels never saw the replica and each other')

  const primaryPort = async (): Promise<number> => {
    for (const client of sentinelClients) {
      try {
        const [, port] = await client.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME) as [string, string]
        return Number(port)
      } catch {}
    }
    throw new Error('no sentinel answers')
  }
  return {
    primary,
    replica,
    sentinels,
    serverOptions,
    env: {
      REDIS_SENTINELS: sentinels.map(({ port }) => `127.0.0.1:${port}`).join(','),
      REDIS_SENTINEL_MASTER: MASTER_NAME,
      ...(tls === undefined ? {} : { REDIS_TLS: 'true', REDIS_TLS_CA: tls.certificates.caFile, REDIS_USERNAME: tls.user, REDIS_PASSWORD: tls.password, REDIS_SENTINEL_PASSWORD: tls.sentinelPassword })
    },
    primaryPort,
    waitForPrimary: async (port, timeoutMs) => {
      await until(async () => {
        for (const client of sentinelClients) {
          const [, named] = await client.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME).catch(() => []) as [string?, string?]
          if (named !== String(port)) return false
        }
        return true
      }, timeoutMs, `the sentinels never promoted port ${port}`, 50)
    }
  }
}

async function masterState (sentinel: Redis): Promise<Record<string, string>> {
  const flat = await sentinel.call('SENTINEL', 'master', MASTER_NAME).catch(() => []) as string[]
  const state: Record<string, string> = {}
  for (let index = 0; index + 1 < flat.length; index += 2) state[flat[index] as string] = flat[index + 1] as string
  return state
}

async function until (check: () => Promise<boolean>, timeoutMs: number, message: string, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check().catch(() => false)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
