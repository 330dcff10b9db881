import { randomBytes } from 'node:crypto'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config/index.js'

/**
 * The BFF's OpenAPI document, as `/docs/json` serves it: the app is built (never listening)
 * with a throwaway configuration that reads nothing from the environment, so that the document,
 * and the types made from it, are the same on every machine. Nothing is ever called upstream.
 */
export async function openApiDocument (): Promise<object> {
  const config = loadConfig({
    EJENTO_AUTH_URL: 'http://127.0.0.1:9',
    EJENTO_API_URL: 'http://127.0.0.1:9',
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    LOG_LEVEL: 'silent'
  })
  const app = await buildApp({ config })
  try {
    await app.ready()
    return app.swagger()
  } finally {
    await app.close()
  }
}
