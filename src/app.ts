import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import type { DestinationStream } from 'pino'
import { answerClientError, answerUnmetExpectation } from './client-errors.js'
import { HttpProblem } from './errors.js'
import type { Config } from './config/index.js'
import { loggerOptions } from './logger.js'
import authRateLimit from './plugins/auth-rate-limit.js'
import cacheControl from './plugins/cache-control.js'
import corsPolicy from './plugins/cors.js'
import crossSite from './plugins/cross-site.js'
import docs from './plugins/docs.js'
import errorHandler, { sendProblem, toProblem } from './plugins/error-handler.js'
import gracefulClose from './plugins/graceful-close.js'
import jsonBody from './plugins/json-body.js'
import metrics from './plugins/metrics.js'
import requestBodyTimeout from './plugins/request-body-timeout.js'
import requestId, { requestIdFor } from './plugins/request-id.js'
import securityHeaders, { SECURITY_HEADERS } from './plugins/security-headers.js'
import session from './plugins/session.js'
import sessionStore from './plugins/session-store.js'
import staticApp from './plugins/static-app.js'
import tokenVault from './plugins/token-vault.js'
import upstreams from './plugins/upstreams.js'
import apiRoutes from './routes/api/index.js'
import authRoutes from './routes/auth/index.js'
import healthRoutes from './routes/health/index.js'
import proxyRoutes from './routes/proxy/index.js'
import { closeRedis, createRedisClient, waitConnectionOf } from './redis.js'
import { MemorySessionStore } from './session/memory-store.js'
import { RedisRefreshLock } from './session/redis-refresh-lock.js'
import { RedisSessionStore } from './session/redis-store.js'
import { replicaWait } from './session/replica-wait.js'
import { tracing } from './tracing/active.js'
import { refreshHoldLimitMs } from './session/vault.js'
import type { RefreshLock } from './session/refresh-lock.js'
import type { SessionStore } from './session/store.js'

export interface BuildAppOptions {
  config: Config
  /** Where log lines go (tests capture them); stdout by default. */
  logStream?: DestinationStream
  /** A session store to use instead of the one the configuration selects. */
  store?: SessionStore
}

/** Far deeper than any agent request (a history of messages is 3 levels), far below what overflows the stack. */
const JSON_MAX_DEPTH = 64

/** Builds the BFF: every plugin and route, ready to `listen` or `inject`. Starting it is server.ts's job. */
export async function buildApp (options: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = options
  const app = Fastify({
    logger: { ...loggerOptions(config.logLevel), ...(options.logStream === undefined ? {} : { stream: options.logStream }) },
    // All, none, or the balancer's addresses (never a hop count: Fastify 5 trusts nobody for one).
    trustProxy: config.trustProxy,
    bodyLimit: config.security.bodyLimit,
    // Node.js's bound on receiving a whole request, headers and body (not on its answer: a
    // stream may last minutes). Fastify's default turns it off. Node.js checks it every
    // connectionsCheckingInterval (30 s by default: a tenth of the bound here), and silently
    // swaps the two bounds when headersTimeout (60 s by default) is the longer one.
    requestTimeout: config.security.requestTimeoutMs,
    http: {
      headersTimeout: Math.min(60_000, config.security.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(config.security.requestTimeoutMs / 10)),
      // Node.js answers an HTTP/1.1 request without Host with an empty 400; the hook below, with problem JSON.
      requireHostHeader: false
    },
    genReqId: requestIdFor,
    requestIdHeader: false,
    // graceful-close answers requests that arrive while closing, as problem JSON.
    return503OnClosing: false,
    // Ids longer than this fail their schema pattern (400) rather than the router (414).
    routerOptions: { maxParamLength: 2048 },
    // Schemas use type unions such as ["integer", "string"] for Ejento ids. Unknown fields are
    // refused (400), not silently dropped: a client learns its mistake, nothing unexpected goes upstream.
    ajv: { customOptions: { allowUnionTypes: true, removeAdditional: false } },
    // Requests Node.js rejects before routing (oversized headers, malformed HTTP) get problem JSON too.
    clientErrorHandler: (error, socket) => { answerClientError(app.log, error, socket) },
    // Errors raised by the router itself (a malformed escape, an overlong id) are problems too.
    frameworkErrors: (error, request, reply) => {
      // Not error.message: a bad URL's quotes the whole target, query and all (the request line logged it censored).
      request.log.info({ code: error.code }, 'the router refused the request')
      // These answers skip the hooks: give them the headers every answer carries.
      reply.headers(SECURITY_HEADERS).header('x-request-id', request.id).header('cache-control', 'no-store')
      sendProblem(reply, toProblem(error))
    }
  })

  // With tracing on (start.ts started it), route spans begin before any other hook runs.
  if (tracing !== undefined) await app.register(tracing.plugin)
  // Only JSON (and, on the log-in, forms) are read; a text/plain body is a 415, not a string
  // that a cross-site form could post without a preflight.
  app.removeContentTypeParser('text/plain')
  await app.register(jsonBody, { maxDepth: JSON_MAX_DEPTH })
  await app.register(errorHandler)
  await app.register(requestId)
  app.addHook('onRequest', async (request) => {
    if ((request.headers.host ?? '') === '' && request.raw.httpVersion === '1.1') throw new HttpProblem(400, 'bad_request', 'An HTTP/1.1 request must have a Host header.')
  })
  // Node.js answers an Expect other than 100-continue with an empty 417 unless this is listened for.
  app.server.on('checkExpectation', (request, response) => { answerUnmetExpectation(app.log, request, response) })
  await app.register(gracefulClose)
  await app.register(requestBodyTimeout, { idleMs: config.security.requestBodyTimeoutMs })
  await app.register(cacheControl)
  await app.register(securityHeaders)
  await app.register(corsPolicy, { allowedOrigins: config.security.allowedOrigins })
  await app.register(crossSite, { allowedOrigins: config.security.allowedOrigins })
  await app.register(docs, { cookieName: config.session.cookieName })
  await app.register(metrics, { token: config.metricsToken })
  // With Redis (one server, a Sentinel set or a Cluster), sessions, refresh locks and rate-limit counters are shared by all instances.
  const redis = config.redis === undefined ? undefined : createRedisClient(config.redis, app.log)
  if (redis !== undefined) app.addHook('onClose', async () => { await closeRedis(redis) })
  const lock: RefreshLock | undefined = redis === undefined || config.redis === undefined
    ? undefined
    : new RedisRefreshLock(redis, { prefix: config.redis.keyPrefix, ttlMs: config.redis.refreshLockTtlMs, maxHoldMs: refreshHoldLimitMs(config.tokens.refreshCallLimitMs), announcementTtlMs: config.session.maxAgeMs })
  // Built only when used: the in-process store runs a sweeper timer for as long as it lives.
  const store: SessionStore = options.store ?? (redis === undefined || config.redis === undefined
    ? new MemorySessionStore({ maxCount: config.session.maxCount })
    : new RedisSessionStore(redis, {
      prefix: config.redis.keyPrefix,
      secrets: config.session.secrets,
      ownerIndexTtlMs: config.session.maxAgeMs,
      // With replicas, fresh tokens are on one before the answer leaves (REDIS_WAIT_REPLICAS).
      ...(config.redis.waitReplicas > 0 ? { afterTokenSave: replicaWait(redis, { replicas: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs, log: app.log, prefix: config.redis.keyPrefix, ...(waitConnectionOf(redis) === undefined ? {} : { waiter: waitConnectionOf(redis) }) }) } : {})
    }))
  await app.register(sessionStore, {
    store,
    secrets: config.session.secrets,
    idleTimeoutMs: config.session.idleTimeoutMs,
    maxAgeMs: config.session.maxAgeMs
  })
  await app.register(upstreams, { upstreams: config.upstreams, refreshCallLimitMs: config.tokens.refreshCallLimitMs })
  await app.register(tokenVault, {
    refreshSkewMs: config.tokens.refreshSkewMs,
    defaultTokenLifetimeMs: config.tokens.defaultLifetimeMs,
    refreshTimeoutMs: config.tokens.refreshTimeoutMs,
    shutdownGraceMs: config.shutdownGraceMs,
    ...(lock === undefined ? {} : { lock })
  })
  await app.register(authRateLimit, {
    ...config.security.authRateLimit,
    secrets: config.session.secrets,
    ...(redis === undefined ? {} : { redis, redisPrefix: `${config.redis?.keyPrefix ?? ''}rate-limit:` })
  })

  await app.register(healthRoutes)
  await app.register(staticApp, { root: config.staticDir })
  // Only the routes that use a session pay for reading the cookie.
  await app.register(async function sessionRoutes (scope) {
    await scope.register(session, {
      cookieName: config.session.cookieName,
      cookieSecure: config.session.cookieSecure,
      secrets: config.session.secrets
    })
    await scope.register(authRoutes, {
      prefix: '/auth',
      cookieSecure: config.session.cookieSecure,
      defaultTokenLifetimeMs: config.tokens.defaultLifetimeMs,
      cookieName: config.session.cookieName,
      secrets: config.session.secrets,
      publicUrl: config.publicUrl,
      demo: config.demo
    })
    await scope.register(apiRoutes, { prefix: '/api' })
    await scope.register(proxyRoutes, {
      keepBytes: config.security.proxyRetryBuffer,
      maxBytes: config.security.proxyBodyLimit
    })
  })
  return app
}
