import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config/index.js'
import type { Config } from './config/index.js'

/** Listens, and closes cleanly on SIGTERM/SIGINT. All building happens in app.ts. */
export async function start (config: Config, options: { onClose?: () => Promise<void> } = {}): Promise<FastifyInstance> {
  const app = await buildApp({ config })
  const { onClose } = options
  if (onClose !== undefined) app.addHook('onClose', onClose)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'shutting down')
      app.close().then(() => process.exit(0), (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      })
    })
  }
  await app.listen({ host: config.host, port: config.port })
  return app
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
