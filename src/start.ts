import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config/index.js'
import type { Config } from './config/index.js'
import { describeRedis } from './redis.js'
import { tracing, useTracing } from './tracing/active.js'

/**
 * Listens, and on SIGTERM/SIGINT closes gracefully: stops accepting, lets open requests and
 * streams finish within SHUTDOWN_GRACE_PERIOD, cuts what is left, closes the upstream pools and
 * Redis, and exits 0. All building happens in app.ts.
 */
export async function start (config: Config, options: { onClose?: () => Promise<void> } = {}): Promise<FastifyInstance> {
  // The SDK's own warnings go to the app's log once there is one; those of its start (an
  // OTEL_TRACES_SAMPLER or _ARG it did not take, and so samples everything) wait for it.
  const sdkLog: { to?: FastifyBaseLogger, waiting: Array<['warn' | 'error', string]> } = { waiting: [] }
  if (config.tracing !== undefined && tracing === undefined) {
    // Loaded only now: with tracing off, no OpenTelemetry module is ever imported.
    const { startTracing } = await import('./tracing/sdk.js')
    useTracing(await startTracing({
      config: config.tracing,
      trustedOrigins: new Set([...config.security.allowedOrigins, ...(config.publicUrl === undefined ? [] : [new URL(config.publicUrl).origin])]),
      log: (level, message) => {
        if (sdkLog.to === undefined) sdkLog.waiting.push([level, message])
        else sdkLog.to[level]({ tracing: 'sdk' }, message)
      }
    }))
  }
  const app = await buildApp({ config })
  sdkLog.to = app.log
  for (const [level, message] of sdkLog.waiting.splice(0)) app.log[level]({ tracing: 'sdk' }, message)
  logStartUp(app, config)
  const { onClose } = options
  if (onClose !== undefined) app.addHook('onClose', onClose)
  let closing = false
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) {
      // A second signal: stop waiting.
      app.server.closeAllConnections()
      return
    }
    closing = true
    app.log.info({ signal, graceMs: config.shutdownGraceMs, openStreams: app.metrics.openStreams() }, 'shutting down: no new connections; open requests and streams may finish')
    const cutOff = setTimeout(() => {
      app.log.warn({ openStreams: app.metrics.openStreams() }, 'grace period over: closing the connections still open')
      app.server.closeAllConnections()
    }, config.shutdownGraceMs)
    cutOff.unref()
    app.close().then(async () => {
      clearTimeout(cutOff)
      // The spans of the last requests (and of the shutdown) go out before the process ends,
      // if the collector takes them soon: one that hangs or is down (the exporter retries)
      // would hold the exit for OTEL_EXPORTER_OTLP_TIMEOUT/OTEL_BSP_EXPORT_TIMEOUT (10 and 30 s).
      if (tracing !== undefined) {
        const flushed = await withinMs(tracing.shutdown(), TRACING_FLUSH_LIMIT_MS).catch((error: unknown) => {
          // The message only: an export's error carries the collector's answer, which may echo its API key.
          app.log.warn({ reason: error instanceof Error ? error.message.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '[url]').slice(0, 200) : 'error' }, 'tracing: the last spans could not be sent')
          return true
        })
        if (!flushed) app.log.warn({ limitMs: TRACING_FLUSH_LIMIT_MS }, `tracing: the collector did not take the last spans within ${TRACING_FLUSH_LIMIT_MS / 1000} s; they are dropped`)
      }
      app.log.info('shut down')
      // With the server, the upstream pools and Redis closed, nothing keeps the process alive
      // and it ends by itself; if something was left open, say what, and end it anyway.
      setTimeout(() => {
        app.log.warn({ resources: process.getActiveResourcesInfo() }, 'exit forced: something was left open')
        process.exit(0)
      }, 2000).unref()
    }, (error: unknown) => {
      app.log.error({ err: error }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (error) {
    // Where to listen is configuration too: one line naming it, as for any other variable.
    const code = (error as { code?: string }).code ?? 'error'
    console.error(`ejento-bff: cannot listen on HOST=${config.host} PORT=${config.port}: ${code} (${(error as Error).message})`)
    await app.close()
    process.exit(1)
  }
  return app
}

/** How long the last spans may take to reach the collector on shutdown, after the server closed. */
const TRACING_FLUSH_LIMIT_MS = 3000

/** True when `work` settled within `ms` (its rejection passed on), false when it did not. */
async function withinMs (work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([work.then(() => true), late])
  } finally {
    clearTimeout(timer)
  }
}

/** What an operator checks first: where sessions live, and which variables were not taken. */
function logStartUp (app: FastifyInstance, config: Config): void {
  if (config.redis === undefined) {
    app.log.info({ sessionStore: app.sessions.store.kind }, 'session store: in-process memory (sessions end with this process and are not shared: run one instance, or set REDIS_URL)')
  } else {
    app.log.info({ sessionStore: app.sessions.store.kind, redis: describeRedis(config.redis) }, 'session store: Redis, shared by every instance')
  }
  if (config.tracing === undefined) {
    app.log.info({ tracing: 'off' }, 'tracing: off (set OTEL_EXPORTER_OTLP_ENDPOINT to send spans to an OpenTelemetry collector)')
  } else {
    // The endpoint without credentials or query; the headers (OTEL_EXPORTER_OTLP_HEADERS may hold API keys) never.
    app.log.info({ tracing: 'on', endpoint: config.tracing.endpoint, protocol: config.tracing.protocol }, `tracing: on, spans sent to ${config.tracing.endpoint} (${config.tracing.protocol})`)
  }
  for (const { name, closest } of config.unknownVariables) {
    app.log.warn({ variable: name, closest }, `${name} is not a variable of this server and is ignored: did you mean ${closest}?`)
  }
}

/** The validated configuration, or exit with one line naming the bad variable. */
export function configFromEnvironment (options: { demo?: boolean } = {}): Config {
  if (existsSync('.env')) process.loadEnvFile('.env')
  try {
    return loadConfig(process.env, options)
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`ejento-bff: configuration error: ${error.message}`)
      process.exit(1)
    }
    throw error
  }
}
