import { Cluster, Redis } from 'ioredis'
import type { ClusterOptions, RedisOptions } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisAddress, RedisConfig } from './config/redis.js'
import { CLUSTER_SLOTS, uncoveredSlots } from './session/redis-store.js'
import { watchReplicaCount } from './session/replica-wait.js'

/**
 * The one Redis client of the process (sessions, rate-limit counters, refresh locks), built
 * from the configuration's one mode: a single Redis (`REDIS_URL`, `rediss://` for TLS), a
 * primary found through Sentinel, or a Cluster. Whatever the mode, commands fail fast while
 * Redis is away (no offline queue), so requests answer 503 `store_unavailable` at once
 * instead of hanging; the client keeps reconnecting by itself. Each outage is logged once
 * when it starts and once when it ends.
 */
export function createRedisClient (config: RedisConfig, log: FastifyBaseLogger): Redis | Cluster {
  const where = describeRedis(config)
  const tls = config.access.tls !== undefined
  const redis = connect(config)
  let healthy: boolean | undefined
  let everReady = false
  redis.on('ready', () => {
    everReady = true
    if (healthy !== true) log.info({ redis: where, server: serverOf(redis) }, 'Redis connection ready')
    healthy = true
  })
  const sentinels = config.mode === 'sentinel' && redis instanceof Redis ? watchSentinelAnswers(redis, config.masterName, where, log) : undefined
  if (config.mode === 'sentinel' && redis instanceof Redis) quietFailoverDetector(redis)
  redis.on('error', (error: Error & { code?: string }) => {
    // A TLS/plain mismatch shows before the first ready connection, never after one.
    if (healthy !== false) log.error({ redis: where, code: error.code, message: error.message, hint: sentinels?.hint() ?? hintFor(error, tls, !everReady) }, 'Redis is unreachable; retrying in the background (requests needing a session answer 503 until it is back)')
    healthy = false
  })
  if (redis instanceof Cluster) {
    // One node away (a primary until its replica takes over) is a warning, once per node until
    // the client sees it again; the whole cluster away is the error above.
    const reported = new Set<string>()
    redis.on('node error', (error: Error & { code?: string }, node: string) => {
      if (reported.has(node)) return
      reported.add(node)
      log.warn({ redis: where, node, code: error.code, message: error.message, hint: hintFor(error, tls, !everReady) }, 'a Redis Cluster node does not answer; its slots answer 503 until it is back or its replica took over')
    })
    redis.on('+node', (_node: Redis, key: string) => { reported.delete(key) })
    redis.on('ready', () => { reported.clear() })
    stoppers.push(redis, watchClusterCoverage(redis, where, log))
  } else {
    stoppers.push(redis, watchSilence(redis, where, log))
    // ioredis gives up for good ('end') when a connection attempt is cut short, which its own
    // fail-over detector does when +switch-master arrives while the client is reconnecting
    // (test/redis-sentinel.test.ts met it in about one fail-over in five: that instance then
    // answered 503 for ever). Only closeRedis may end the client; any other end starts it again.
    redis.on('end', () => {
      if (closing.has(redis)) return
      log.warn({ redis: where }, 'the Redis client stopped reconnecting; starting it again')
      setTimeout(() => {
        if (!closing.has(redis) && redis.status === 'end') redis.connect().catch(() => {})
      }, 100).unref()
    })
  }
  if (config.waitReplicas > 0) {
    stoppers.push(redis, watchReplicaCount(redis, { replicas: config.waitReplicas, timeoutMs: config.waitTimeoutMs, log }))
    waitConnections.set(redis, waitConnection(config, where, log))
  }
  return redis
}

/**
 * The connection a token save's WAIT runs on (src/session/replica-wait.ts), when
 * REDIS_WAIT_REPLICAS asks for one. WAIT blocks the connection it is sent on: on the client's
 * one connection, every other request's command queued behind it, and with a replica gone each
 * save held all of them for REDIS_WAIT_TIMEOUT (found attacking issue 14: an instance's
 * throughput fell to a tenth for as long as the promoted primary had no replica). Its outages
 * are the main client's to report; it reconnects by itself like the main client.
 */
export function waitConnectionOf (redis: Redis | Cluster): Redis | Cluster | undefined {
  return waitConnections.get(redis)
}

const waitConnections = new WeakMap<Redis | Cluster, Redis | Cluster>()

function waitConnection (config: RedisConfig, where: string, log: FastifyBaseLogger): Redis | Cluster {
  const waiter = connect(config)
  waiter.on('error', () => {})
  if (waiter instanceof Redis) {
    if (config.mode === 'sentinel') quietFailoverDetector(waiter)
    const stopWatch = watchSilence(waiter, `${where} (WAIT connection)`, log)
    waiter.on('end', () => {
      setTimeout(() => {
        if (!closing.has(waiter) && waiter.status === 'end') waiter.connect().catch(() => {})
      }, 100).unref()
    })
    stoppers.push(waiter, stopWatch)
  }
  return waiter
}

/**
 * A connection that stops answering without closing (a network path that drops packets, a
 * balancer or NAT that forgot it, an address that moved to another server) stays "ready" to
 * the client: every command waits its timeout and fails, until the kernel gives up on the
 * socket (about 15 minutes on Linux), though a new connection would work at once (found
 * attacking issue 14). A PING every second while ready; one unanswered for the command timeout
 * drops the socket, and the client connects again (under Sentinel, to the primary the
 * sentinels name then).
 */
function watchSilence (redis: Redis, where: string, log: FastifyBaseLogger, everyMs = 1000): () => void {
  let asking = false
  const timer = setInterval(() => {
    if (asking || redis.status !== 'ready') return
    asking = true
    const stream = redis.stream
    redis.ping().then(() => {}, (error: unknown) => {
      if (!(error instanceof Error && error.message === 'Command timed out') || redis.stream !== stream || redis.status !== 'ready') return
      log.warn({ redis: where, timeoutMs: redis.options.commandTimeout }, 'the Redis connection stopped answering (a PING timed out); dropping it and connecting again')
      stream.destroy()
    }).finally(() => { asking = false })
  }, everyMs)
  timer.unref()
  return () => { clearInterval(timer) }
}

/**
 * ioredis's fail-over detector opens a connection to each sentinel with no error listener
 * (redis/ioredis#1829): while the sentinels are away each of them prints "[ioredis] Unhandled
 * error event" to stderr, plain text among the JSON log lines, once per retry. The main
 * client's error listener already says Redis is unreachable, so these connections get a
 * silent one. `connector.connectToSentinel` is ioredis's own (5.x) factory for them; should
 * a later version rename it, nothing changes but the noise.
 */
function quietFailoverDetector (redis: Redis): void {
  const connector = (redis as unknown as { connector?: { connectToSentinel?: (...args: unknown[]) => Redis } }).connector
  const connectToSentinel = connector?.connectToSentinel
  if (connector === undefined || typeof connectToSentinel !== 'function') return
  connector.connectToSentinel = (...args: unknown[]): Redis => {
    const client = connectToSentinel.apply(connector, args)
    client.on('error', () => {})
    return client
  }
}

/**
 * Under Sentinel, two configuration mistakes look like an outage that never ends: a
 * REDIS_SENTINEL_MASTER the sentinels do not know (each answers no address, and ioredis says
 * only "All sentinels are unreachable"), and sentinels that name a server that is not a primary
 * (a replica: ioredis drops each connection after its role check, without an error). Each is
 * one warning naming it, again only after the client was ready in between.
 */
function watchSentinelAnswers (redis: Redis, masterName: string, where: string, log: FastifyBaseLogger): { hint: () => string | undefined } {
  const unknownName = `the sentinels answer but none knows a master set named "${masterName}": REDIS_SENTINEL_MASTER must be the name in their "sentinel monitor" line`
  let nameUnknown = false
  /** The server of the connection under way, until it is ready or fails with an error. */
  let connectedTo: string | undefined
  let droppedBeforeReady = 0
  let warnedRole = false
  redis.on('sentinelError', (error: Error) => {
    // ioredis asks each sentinel for the master's address (none: "invalid reply: null") and
    // for its fellow sentinels (an unknown name: "No such master with that name").
    if (!(error.message.includes('invalid reply: null') || error.message.includes('No such master')) || nameUnknown) return
    nameUnknown = true
    log.warn({ redis: where, masterName }, unknownName)
  })
  redis.on('connect', () => {
    nameUnknown = false
    connectedTo = serverOf(redis) ?? 'unknown'
  })
  redis.on('error', () => { connectedTo = undefined })
  redis.on('ready', () => {
    connectedTo = undefined
    droppedBeforeReady = 0
    warnedRole = false
  })
  redis.on('close', () => {
    // Connected to the server the sentinels named, closed before ready, and no error: ioredis's
    // role check found no primary there.
    if (connectedTo === undefined) return
    const server = connectedTo
    connectedTo = undefined
    if (++droppedBeforeReady < 2 || warnedRole) return
    warnedRole = true
    log.warn({ redis: where, masterName, server }, `the server the sentinels name as the primary of "${masterName}" does not act as one (it answers as a replica): they may watch a replica, or a fail-over is under way; requests answer 503 until a primary is named`)
  })
  return { hint: () => nameUnknown ? unknownName : undefined }
}

/** What closeRedis stops besides the client (periodic checks). */
const stoppers = {
  all: new WeakMap<Redis | Cluster, Array<() => void>>(),
  push (redis: Redis | Cluster, stop: () => void): void {
    this.all.set(redis, [...(this.all.get(redis) ?? []), stop])
  },
  stop (redis: Redis | Cluster): void {
    for (const stop of this.all.get(redis) ?? []) stop()
  }
}

/**
 * A cluster whose slots are not all served (a primary lost with no replica to promote, slots
 * never assigned) fails the requests of the sessions in those slots: with
 * cluster-require-full-coverage yes (the default) every request, with no only some. Nothing
 * outside those requests said so: this reads the client's slot map and CLUSTER INFO every 5 s
 * and warns when the state turns bad (uncovered slots or cluster_state:fail), once, and says
 * when it is whole again. /readyz answers 503 meanwhile (RedisSessionStore.ping).
 */
function watchClusterCoverage (cluster: Cluster, where: string, log: FastifyBaseLogger, everyMs = 5000): () => void {
  let reported = false
  const check = async (): Promise<void> => {
    if (cluster.status !== 'ready') return
    const uncovered = uncoveredSlots(cluster)
    const info = await cluster.cluster('INFO')
    const state = /^cluster_state:(\w+)/m.exec(info)?.[1] ?? 'unknown'
    const bad = uncovered > 0 || state !== 'ok'
    if (bad && !reported) {
      log.warn({ redis: where, clusterState: state, uncoveredSlots: uncovered }, `the Redis Cluster does not serve every hash slot (cluster_state:${state}, ${uncovered} of ${CLUSTER_SLOTS} slots with no primary): sessions in those slots answer 503 store_unavailable, and /readyz says not ready`)
      reported = true
    } else if (!bad && reported) {
      log.info({ redis: where }, 'the Redis Cluster serves every hash slot again')
      reported = false
    }
  }
  const timer = setInterval(() => { check().catch(() => {}) }, everyMs)
  timer.unref()
  return () => { clearInterval(timer) }
}

/** Clients closeRedis ended: the only ones that stay ended. */
const closing = new WeakSet<Redis | Cluster>()

function connect (config: RedisConfig): Redis | Cluster {
  switch (config.mode) {
    case 'standalone':
      // The URL's own credentials and database win (ioredis reads them); REDIS_USERNAME and
      // REDIS_PASSWORD fill in when it has none (the loader refuses both).
      return new Redis(config.url, { ...commonOptions(config), ...credentials(config), ...(config.access.tls === undefined ? {} : { tls: tlsOptions(config) }) })
    case 'sentinel':
      return new Redis({
        ...commonOptions(config),
        ...credentials(config),
        sentinels: config.sentinels,
        name: config.masterName,
        ...(config.sentinelUsername === undefined ? {} : { sentinelUsername: config.sentinelUsername }),
        ...(config.sentinelPassword === undefined ? {} : { sentinelPassword: config.sentinelPassword }),
        // TLS to the sentinels and to the primary they name, with the same CA.
        ...(config.access.tls === undefined ? {} : { tls: tlsOptions(config), sentinelTLS: tlsOptions(config), enableTLSForSentinelMode: true }),
        // Told of a promotion (+switch-master), the client moves to the new primary at once
        // rather than when its connection to the old one fails.
        failoverDetector: true
      })
    case 'cluster': {
      const cluster = new Cluster(config.nodes, clusterOptions(config))
      reconnectToDiscoveredNodes(cluster, config.nodes)
      return cluster
    }
  }
}

/**
 * REDIS_CLUSTER_NODES may name only some nodes; the client finds the rest. But once it has lost
 * every connection (all nodes restarted, a network cut), ioredis connects again to the nodes it
 * was given only: if those died in a fail-over, the instance stayed not ready for as long as they
 * stayed away, the cluster healthy on its other nodes. So each time the slots are read, the
 * nodes the client knows join the ones it was given, as where to start again. (`startupNodes`
 * is what ioredis reconnects from; it has no public setter.)
 */
function reconnectToDiscoveredNodes (cluster: Cluster, configured: RedisAddress[]): void {
  cluster.on('refresh', () => {
    const known = new Map(configured.map((node) => [`${node.host}:${node.port}`, { host: node.host, port: node.port }]))
    for (const node of cluster.nodes('all')) {
      const { host, port } = node.options
      if (host !== undefined && port !== undefined) known.set(`${host}:${port}`, { host, port })
    }
    ;(cluster as unknown as { startupNodes: Array<{ host: string, port: number }> }).startupNodes = [...known.values()]
  })
}

/**
 * A Cluster client learns the slots from any node it is given, follows MOVED and ASK, and after
 * a fail-over finds the promoted replica by itself (it reads the slots again, on a MOVED and
 * every 5 s). No offline queue here either: while the cluster is not ready a command fails at
 * once (503). Each node's connection keeps the timeouts, but reconnecting is the cluster
 * client's: it drops a node that went away and reads the slots again, retrying the whole cluster
 * while every node is away.
 */
function clusterOptions (config: RedisConfig): ClusterOptions {
  const { enableOfflineQueue, retryStrategy, reconnectOnError, ...node } = commonOptions(config)
  const tls = config.access.tls !== undefined
  return {
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    slotsRefreshTimeout: 2000,
    // ioredis 5 no longer reads the slots on a timer (4 did, every 5 s): a slot map that still
    // names a primary gone in a fail-over is corrected only when a command meets a MOVED. Read
    // them every 5 s too, so that an instance finds the promoted replica by itself.
    slotsRefreshInterval: 5000,
    redisOptions: { ...node, ...credentials(config), ...(tls ? { tls: tlsOptions(config) } : {}) },
    // With TLS, connect to the names the nodes announce as they are, so that each certificate is
    // checked against the name it was issued for (managed clusters announce names, not addresses).
    ...(tls ? { dnsLookup: (address: string, lookup: (error: null, address: string) => void) => { lookup(null, address) } } : {})
  }
}

/**
 * What every mode's connections share. `enableOfflineQueue: false`: a command while
 * disconnected fails at once (a 503), never waits for a reconnection. READONLY means the
 * server this connection reached is a replica now (a primary demoted by a fail-over, behind an
 * address that still names it): reconnect, which asks the sentinels (or DNS) again, rather
 * than fail every write for ever; the command that met it answers 503.
 */
function commonOptions (config: RedisConfig): RedisOptions {
  return {
    enableOfflineQueue: false,
    // A command left unanswered by a connection that closed has already failed its caller (its
    // timeout, or the close): sent again to the next server it would run where nobody waits for
    // it (a write replayed on a new primary after its request answered 503).
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 1,
    // A token save's WAIT may block for REDIS_WAIT_TIMEOUT: the client must not give up first.
    commandTimeout: Math.max(2000, config.waitReplicas > 0 ? config.waitTimeoutMs + 1000 : 0),
    connectTimeout: 5000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    reconnectOnError: (error) => error.message.startsWith('READONLY') ? 1 : false
  }
}

function credentials (config: RedisConfig): RedisOptions {
  return {
    ...(config.access.username === undefined ? {} : { username: config.access.username }),
    ...(config.access.password === undefined ? {} : { password: config.access.password })
  }
}

/** Node.js checks the server's certificate and name; REDIS_TLS_CA replaces the system's CAs. */
function tlsOptions (config: RedisConfig): { ca?: string } {
  const ca = config.access.tls?.ca
  return ca === undefined ? {} : { ca }
}

/** What a log line names: the mode and the addresses, never a credential. */
export function describeRedis (config: RedisConfig): string {
  const tls = config.access.tls === undefined ? '' : ' (TLS)'
  switch (config.mode) {
    case 'standalone':
      return redactedUrl(config.url)
    case 'sentinel':
      return `sentinel master "${config.masterName}" via ${addresses(config.sentinels)}${tls}`
    case 'cluster':
      return `cluster via ${addresses(config.nodes)}${tls}`
  }
}

function addresses (list: RedisAddress[]): string {
  return list.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',')
}

/** The server this connection reached (in Sentinel mode, the primary the sentinels named). */
function serverOf (redis: Redis | Cluster): string | undefined {
  if (redis instanceof Cluster) return undefined
  const { remoteAddress, remotePort } = redis.stream ?? {}
  return remoteAddress === undefined ? undefined : `${remoteAddress.includes(':') ? `[${remoteAddress}]` : remoteAddress}:${String(remotePort)}`
}

/** A word on the likely cause, for the failures an operator fixes in the configuration. */
function hintFor (error: Error & { code?: string }, tls: boolean, neverReady: boolean): string | undefined {
  const code = error.code ?? ''
  if (code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') {
    return 'the Redis server\'s TLS certificate was refused: REDIS_TLS_CA must name the CA that signed it, and the certificate must name the host connected to'
  }
  if (/^(WRONGPASS|NOAUTH|NOPERM)/.test(error.message)) return 'Redis refused the credentials (REDIS_URL or REDIS_USERNAME/REDIS_PASSWORD)'
  if (error.message.includes('wrong version number')) return 'if the server speaks TLS, use rediss:// (or REDIS_TLS=true); if not, plain redis://'
  // Redis answers a TLS/plain mismatch with silence or a closed connection, never with a TLS
  // alert: the client sees a connect timeout or a reset, as for a firewall dropping packets.
  // Only before the first ready connection: after one, a reset is a server that went away (a
  // primary killed in a fail-over), not a mismatch.
  if (neverReady && (code === 'ETIMEDOUT' || code === 'ECONNRESET' || error.message.includes('before secure TLS connection'))) {
    return tls
      ? 'no TLS handshake: if this Redis does not speak TLS (plain TCP), use redis:// (REDIS_TLS=false); otherwise a firewall or the address is wrong'
      : 'no answer: if this Redis speaks only TLS (managed services such as Azure Cache for Redis on 6380), use rediss:// (or REDIS_TLS=true); otherwise a firewall or the address is wrong'
  }
  return undefined
}

/**
 * The URL as logs show it: scheme, host, port and database. Credentials go wherever ioredis
 * reads them (`redis://:pw@host`, `redis://user:pw@host`, `?password=pw`), and a lone
 * `redis://pw@host` is a password written as a user name, so any user part and every query
 * value are censored.
 */
export function redactedUrl (url: string): string {
  try {
    const parsed = new URL(url)
    const credentials = parsed.username !== '' || parsed.password !== '' ? '***@' : ''
    const query = [...parsed.searchParams.keys()].map((name) => `${encodeURIComponent(name)}=***`).join('&')
    return `${parsed.protocol}//${credentials}${parsed.host}${parsed.pathname}${query === '' ? '' : `?${query}`}`
  } catch {
    return 'redis://(unparseable URL)'
  }
}

/**
 * Quits politely when connected, then disconnects: QUIT ends only the connection to the server,
 * and under Sentinel the fail-over detector's connections to the sentinels stay open until the
 * connector is disconnected (the process then waited for the forced exit).
 */
export async function closeRedis (redis: Redis | Cluster): Promise<void> {
  const waiter = waitConnections.get(redis)
  if (waiter !== undefined) await closeRedis(waiter)
  closing.add(redis)
  stoppers.stop(redis)
  if (redis.status === 'ready') await redis.quit().catch(() => {})
  redis.disconnect()
}
