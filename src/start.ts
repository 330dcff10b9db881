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
  // The SDK's own warnings go to the app's log once there is one.
  const sdkLog: { to?: FastifyBaseLogger } = {}
  if (config.tracing !== undefined && tracing === undefined) {
    // Loaded only now: with tracing off, no OpenTelemetry module is ever imported.
    const { startTracing } = await import('./tracing/sdk.js')
    useTracing(await startTracing({
      config: config.tracing,
      trustedOrigins: new Set([...config.security.allowedOrigins, ...(config.publicUrl === undefined ? [] : [new URL(config.publicUrl).origin])]),
      log: (level, message) => { sdkLog.to?.[level]({ tracing: 'sdk' }, message) }
    }))
  }
  const app = await buildApp({ config })
  sdkLog.to = app.log
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
      // The spans of the last requests (and of the shutdown) go out before the process ends.
      await tracing?.shutdown().catch((error: unknown) => { app.log.warn({ err: error }, 'tracing: the last spans could not be sent') })
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
