import type { FastifyBaseLogger } from 'fastify'
import { Cluster } from 'ioredis'
import type { Redis } from 'ioredis'
import { hashTag, keySlot } from './redis-store.js'

export interface ReplicaWaitOptions {
  /** How many replicas must acknowledge (REDIS_WAIT_REPLICAS, at least 1). */
  replicas: number
  /** The longest a save waits for them (REDIS_WAIT_TIMEOUT); then it goes on. */
  timeoutMs: number
  log: FastifyBaseLogger
  /** A connection of its own for WAIT (src/redis.ts waitConnectionOf), so that it blocks nobody else's commands. */
  waiter?: Redis | Cluster
  /** REDIS_KEY_PREFIX: the marker key WAIT's rounds write is under it. */
  prefix?: string
}

/** How long a WAIT round's marker key lives (it only has to be written). */
const MARKER_TTL_MS = 1000

/**
 * What runs after a session record with fresh tokens is written (a log-in, a refresh): Redis
 * `WAIT`, so that the answer leaves only once a replica holds the tokens too. A refresh has
 * already revoked the old tokens upstream: tokens that only a primary held, lost with it in a
 * fail-over, would be a logged-out user.
 *
 * WAIT blocks the connection it is sent on, and counts what the replicas acknowledged of the
 * writes made on that connection. So it runs on a connection of its own (`waiter`), in rounds:
 * a round writes a marker key, then WAITs; the replication offset is the primary's, so a round
 * whose marker was written after a save (its write answered) covers that save. Saves that come
 * while a round runs join the next round, so they wait at most two rounds however many there
 * are (one connection and one WAIT at a time: with a replica gone, saves queued one
 * REDIS_WAIT_TIMEOUT each behind each other, and before the waiter every other request's
 * commands with them). On a Cluster rounds are per primary. When the waiter is not connected to
 * the server that took the save (it is reconnecting, or a fail-over moved one connection and not
 * yet the other), the save WAITs on the client's own connection, in one pipeline with a read of
 * the key: correct, if slower for the others.
 *
 * Past the timeout the save goes on all the same: the primary is alive and holds the tokens,
 * and refusing the answer would not put them on a replica. The first shortfall is logged as a
 * warning, the return to full acknowledgements as info. A WAIT that gets no answer at all (the
 * connection broke right after the write: the primary may be dying) rejects, and the save
 * counts as failed: a log-in answers 503, a refresh keeps its tokens in memory and saves them
 * again on the primary that answers next (src/session/vault.ts).
 */
export function replicaWait (redis: Redis | Cluster, options: ReplicaWaitOptions): (key: string) => Promise<void> {
  const { replicas, timeoutMs, log, waiter, prefix = '' } = options
  let short = false
  const rounds = new Map<string, { queued?: Promise<number>, running?: Promise<number> }>()
  const count = (answers: Array<[Error | null, unknown]> | null): number => {
    const [error, acknowledged] = answers?.[1] ?? [new Error('WAIT got no answer')]
    if (error !== null && error !== undefined) throw error
    return Number(acknowledged)
  }
  const onWaiter = async (key: string, waiting: Redis | Cluster): Promise<number> => {
    const group = serverFor(waiting, key)
    const state = rounds.get(group) ?? {}
    rounds.set(group, state)
    if (state.queued !== undefined) return await state.queued
    const before = state.running
    // Set before the round's first await returns: the round names itself as running.
    const self: { round?: Promise<number> } = {}
    const round = (async (): Promise<number> => {
      await before?.catch(() => {})
      state.queued = undefined
      state.running = self.round
      try {
        // On a Cluster the marker shares the save's slot, so the round goes to its primary.
        const marker = waiting instanceof Cluster ? `${prefix}replica-wait:{${hashTag(key)}}` : `${prefix}replica-wait`
        return count(await waiting.pipeline().set(marker, '1', 'PX', MARKER_TTL_MS).wait(replicas, timeoutMs).exec())
      } finally {
        if (state.running === self.round) state.running = undefined
        if (state.running === undefined && state.queued === undefined) rounds.delete(group)
      }
    })()
    self.round = round
    state.queued = round
    return await round
  }
  return async (key) => {
    const acknowledged = waiter !== undefined && sameServer(redis, waiter, key)
      ? await onWaiter(key, waiter)
      : count(await redis.pipeline().exists(key).wait(replicas, timeoutMs).exec())
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

/** The server a command on `key` goes to over this client ('' when unknown). */
function serverFor (redis: Redis | Cluster, key: string): string {
  if (redis instanceof Cluster) return redis.slots[keySlot(key)]?.[0] ?? ''
  if (redis.status !== 'ready') return ''
  const { remoteAddress, remotePort } = redis.stream ?? {}
  return remoteAddress === undefined ? '' : `${remoteAddress}:${String(remotePort)}`
}

/** Whether the waiter is connected, and to the server the client wrote `key` to. */
function sameServer (redis: Redis | Cluster, waiter: Redis | Cluster, key: string): boolean {
  if (waiter.status !== 'ready') return false
  const server = serverFor(redis, key)
  return server !== '' && server === serverFor(waiter, key)
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
