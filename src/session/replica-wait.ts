import type { FastifyBaseLogger } from 'fastify'
import { Cluster } from 'ioredis'
import type { Redis } from 'ioredis'

export interface ReplicaWaitOptions {
  /** How many replicas must acknowledge (REDIS_WAIT_REPLICAS, at least 1). */
  replicas: number
  /** The longest a save waits for them (REDIS_WAIT_TIMEOUT); then it goes on. */
  timeoutMs: number
  log: FastifyBaseLogger
}

/**
 * What runs after a session record with fresh tokens is written (a log-in, a refresh): Redis
 * `WAIT`, so that the answer leaves only once a replica holds the tokens too. A refresh has
 * already revoked the old tokens upstream: tokens that only a primary held, lost with it in a
 * fail-over, would be a logged-out user.
 *
 * WAIT counts what the replicas acknowledged of the writes made on its own connection, so it
 * goes in one pipeline with a read of the key just written: on one Redis or under Sentinel
 * that is the client's one connection anyway; on a Cluster the key routes the pipeline to
 * the node that owns the key, whose connection carried the write.
 *
 * Past the timeout the save goes on all the same: the primary is alive and holds the tokens,
 * and refusing the answer would not put them on a replica. The first shortfall is logged as a
 * warning, the return to full acknowledgements as info. A WAIT that gets no answer at all (the
 * connection broke right after the write: the primary may be dying) rejects, and the save
 * counts as failed: a log-in answers 503, a refresh keeps its tokens in memory and saves them
 * again on the primary that answers next (src/session/vault.ts).
 */
export function replicaWait (redis: Redis | Cluster, options: ReplicaWaitOptions): (key: string) => Promise<void> {
  const { replicas, timeoutMs, log } = options
  let short = false
  return async (key) => {
    const answers = await redis.pipeline().exists(key).wait(replicas, timeoutMs).exec()
    const [error, count] = answers?.[1] ?? [new Error('WAIT got no answer')]
    if (error !== null && error !== undefined) throw error
    const acknowledged = Number(count)
    if (acknowledged >= replicas) {
      if (short) log.info({ replicas: acknowledged }, 'Redis replicas acknowledge token saves again')
      short = false
      return
    }
    if (!short) {
      log.warn({ wanted: replicas, acknowledged, timeoutMs },
        'a token save was not acknowledged by enough Redis replicas in time; going on (a fail-over now could lose fresh tokens)')
    }
    short = true
  }
}

export interface ReplicaCountOptions {
  /** REDIS_WAIT_REPLICAS. */
  replicas: number
  timeoutMs: number
  log: FastifyBaseLogger
  /** How often the count is read again while connected. */
  everyMs?: number
}

/**
 * REDIS_WAIT_REPLICAS larger than the replicas a primary has makes every log-in and refresh
 * wait REDIS_WAIT_TIMEOUT and go on unacknowledged: said at start (the first connection) and
 * whenever it changes (a replica lost or added, a fail-over to a primary with fewer), from
 * `INFO replication` (`connected_slaves`; on a Cluster, the primary with the fewest). Answers
 * a function that stops the checks.
 */
export function watchReplicaCount (redis: Redis | Cluster, options: ReplicaCountOptions): () => void {
  const { replicas, timeoutMs, log, everyMs = 30_000 } = options
  let short: boolean | undefined
  const check = async (): Promise<void> => {
    const primaries = redis instanceof Cluster ? redis.nodes('master') : [redis]
    if (primaries.length === 0) return
    const counts = await Promise.all(primaries.map(async (primary) => connectedReplicas(await primary.info('replication'))))
    const connected = Math.min(...counts)
    if (connected < replicas) {
      if (short !== true) {
        log.warn({ wanted: replicas, connected, timeoutMs },
          'REDIS_WAIT_REPLICAS is more than the replicas the Redis primary has: every log-in and refresh waits REDIS_WAIT_TIMEOUT, then goes on unacknowledged (add replicas or lower REDIS_WAIT_REPLICAS)')
      }
      short = true
    } else {
      if (short === true) log.info({ wanted: replicas, connected }, 'the Redis primary has enough replicas for REDIS_WAIT_REPLICAS again')
      short = false
    }
  }
  const run = (): void => { check().catch(() => {}) }
  redis.on('ready', run)
  const timer = setInterval(() => { if (redis.status === 'ready') run() }, everyMs)
  timer.unref()
  return () => {
    clearInterval(timer)
    redis.off('ready', run)
  }
}

function connectedReplicas (info: string): number {
  const match = /^connected_slaves:(\d+)/m.exec(info)
  return match === null ? 0 : Number(match[1])
}
