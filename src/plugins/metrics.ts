import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { HttpProblem } from '../errors.js'
import { problemResponses } from '../routes/responses.js'
import type { PoolStats } from '../upstream/client.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** Everything the BFF counts. Label values are bounded: route templates, upstream names, outcomes, status codes. */
export interface Metrics {
  registry: Registry
  upstreamCall: (upstream: string, status: number | string, seconds: number) => void
  refreshOutcome: (outcome: string) => void
  streamOpened: () => void
  streamClosed: () => void
  /** Streams being sent right now (shutdown waits for them). */
  openStreams: () => number
  storeError: () => void
  /** Sessions ended, by why: logout, logout_all, logout_others, revoked, password_change, admin_change, refresh_refused. */
  sessionsEnded: (reason: string, count?: number) => void
  /** Reports an upstream pool's state at every scrape. */
  watchPool: (upstream: string, stats: () => PoolStats) => void
  /** Reports how many sessions' fresh tokens wait for the store, at every scrape. */
  watchPendingTokens: (count: () => number) => void
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Prometheus metrics at GET /metrics, in a registry of this app's own (several apps can share a process). */
export interface MetricsOptions {
  /** When set, scrapers must send `Authorization: Bearer <token>`. */
  token?: string | undefined
}

export default fp(async function metrics (app: FastifyInstance, options: MetricsOptions) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'ejento_bff_' })

  const requests = new Histogram({
    name: 'ejento_bff_http_request_duration_seconds',
    help: 'Requests answered by the BFF, by route template, method and status, with their duration (for a stream, until it ends).',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry]
  })
  const upstreamCalls = new Histogram({
    name: 'ejento_bff_upstream_request_duration_seconds',
    help: 'Calls to the Ejento upstreams by upstream and outcome (HTTP status, or unavailable/timeout/invalid), with the time to their answer headers.',
    labelNames: ['upstream', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry]
  })
  const refreshes = new Counter({
    name: 'ejento_bff_token_refreshes_total',
    help: 'Token refreshes by outcome: refreshed (upstream gave new tokens), reused (another request or instance had refreshed), refused (session ended), failed (upstream or store error, session kept), lost (the instance that refreshed died with the new tokens), saved_late (fresh tokens the store took only after an outage).',
    labelNames: ['outcome'] as const,
    registers: [registry]
  })
  const openStreams = new Gauge({
    name: 'ejento_bff_open_streams',
    help: 'Answers being streamed to browsers right now.',
    registers: [registry]
  })
  const sessionsEnded = new Counter({
    name: 'ejento_bff_sessions_ended_total',
    help: 'Sessions the BFF ended, by reason: logout, logout_all, logout_others, revoked (from the list of sessions), password_change, admin_change, refresh_refused.',
    labelNames: ['reason'] as const,
    registers: [registry]
  })
  const storeErrors = new Counter({
    name: 'ejento_bff_session_store_errors_total',
    help: 'Requests that failed because the session store (Redis) did not answer.',
    registers: [registry]
  })

  // Read when scraped, so a call stuck upstream (or a leaked one) shows without any bookkeeping.
  const pools = new Map<string, () => PoolStats>()
  const poolGauge = (name: keyof PoolStats, help: string): Gauge => new Gauge({
    name: `ejento_bff_upstream_pool_${name}`,
    help,
    labelNames: ['upstream'] as const,
    registers: [registry],
    collect () {
      for (const [upstream, stats] of pools) this.set({ upstream }, stats()[name])
    }
  })
  poolGauge('connected', 'Open connections to each upstream.')
  poolGauge('running', 'Calls to each upstream sent and not yet fully answered (streams included).')
  poolGauge('pending', 'Calls to each upstream waiting for a connection.')

  let pendingTokens = (): number => 0
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'ejento_bff_unsaved_token_sets',
    help: 'Sessions whose fresh tokens this instance holds because the session store has not taken them yet (retried until it does).',
    registers: [registry],
    collect () { this.set(pendingTokens()) }
  })

  let streams = 0
  app.decorate('metrics', {
    registry,
    upstreamCall: (upstream, status, seconds) => { upstreamCalls.observe({ upstream, status: String(status) }, seconds) },
    refreshOutcome: (outcome) => { refreshes.inc({ outcome }) },
    streamOpened: () => { streams += 1; openStreams.inc() },
    streamClosed: () => { streams -= 1; openStreams.dec() },
    openStreams: () => streams,
    storeError: () => { storeErrors.inc() },
    sessionsEnded: (reason, count = 1) => { if (count > 0) sessionsEnded.inc({ reason }, count) },
    watchPool: (upstream, stats) => { pools.set(upstream, stats) },
    watchPendingTokens: (count) => { pendingTokens = count }
  } satisfies Metrics)

  app.addHook('onResponse', async (request, reply) => {
    // The route template, never the raw URL: ids and tricks must not mint new series.
    const route = request.routeOptions.url ?? 'unmatched'
    requests.observe({ route, method: request.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })

  const expected = options.token === undefined ? undefined : Buffer.from(`Bearer ${options.token}`)
  app.get('/metrics', {
    schema: {
      tags: ['operations'],
      summary: options.token === undefined ? 'Prometheus metrics' : 'Prometheus metrics (Authorization: Bearer METRICS_TOKEN)',
      produces: ['text/plain'],
      response: { 200: { description: 'The Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...problemResponses(401) }
    }
  }, async (request, reply) => {
    if (expected !== undefined && !sameSecret(request.headers.authorization, expected)) {
      reply.header('www-authenticate', 'Bearer realm="metrics"')
      throw new HttpProblem(401, 'not_authenticated', 'The metrics need Authorization: Bearer <METRICS_TOKEN>.')
    }
    return await reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'metrics' })

/** Constant-time comparison, so the token cannot be guessed byte by byte from response times. */
function sameSecret (given: string | undefined, expected: Buffer): boolean {
  const bytes = Buffer.from(given ?? '')
  return bytes.length === expected.length && timingSafeEqual(bytes, expected)
}
