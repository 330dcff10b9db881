import { randomBytes } from 'node:crypto'
import { ConfigError, loadConfig } from '../../src/config/index.js'

/** The variables every start needs (upstreams that are never called, a session secret). */
export const BASE_ENV = { EJENTO_AUTH_URL: 'http://127.0.0.1:9', EJENTO_API_URL: 'http://127.0.0.1:9', SESSION_SECRET: randomBytes(32).toString('base64url') }

/** The ConfigError that refuses a start with `env` (over BASE_ENV); fails the test if the start is accepted. */
export function startError (env: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...BASE_ENV, ...env })
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('expected the start to be refused')
}
