import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config/index.js'
import { spawnServer, within } from './helpers/processes.js'

const BASE = { EJENTO_AUTH_URL: 'http://auth.test', EJENTO_API_URL: 'http://api.test', SESSION_SECRET: 's'.repeat(40) }

/** Every duration that becomes a Node.js timer, with what it must at least be next to the others. */
const TIMERS: Record<string, Record<string, string>> = {
  REFRESH_TIMEOUT: { REFRESH_CALL_LIMIT: '24d' },
  REFRESH_CALL_LIMIT: {},
  SHUTDOWN_GRACE_PERIOD: {},
  REQUEST_TIMEOUT: {},
  REQUEST_BODY_TIMEOUT: { REQUEST_TIMEOUT: '24d' },
  UPSTREAM_CONNECT_TIMEOUT: {},
  UPSTREAM_HEADERS_TIMEOUT: {},
  UPSTREAM_BODY_TIMEOUT: {},
  REFRESH_LOCK_TTL: { REDIS_URL: 'redis://127.0.0.1:6379' }
}

/**
 * Regression (operator attack on issue 10): a duration past 2^31 - 1 ms (24.8 days) was
 * accepted, and Node.js fires such a timer after 1 ms with only a warning on stderr:
 * REFRESH_TIMEOUT=30d answered every refresh 504 at once, REFRESH_CALL_LIMIT=30d aborted every
 * refresh call, SHUTDOWN_GRACE_PERIOD=30d cut every open stream the moment SIGTERM came.
 * An EJENTO_SUBSCRIPTION_KEY with a control character failed every upstream call as
 * "could not be reached". Each now stops the server with one line naming the variable.
 */
describe('regression: durations past the longest Node.js timer, and a key no header can carry', () => {
  it('every timer variable refuses 25d with a ConfigError naming it, and takes 24d', () => {
    for (const [name, companions] of Object.entries(TIMERS)) {
      expect(() => loadConfig({ ...BASE, ...companions, [name]: '25d' }), name).toThrow(ConfigError)
      expect(() => loadConfig({ ...BASE, ...companions, [name]: '25d' }), name).toThrow(new RegExp(`^${name} must be at most 24d`))
      expect(() => loadConfig({ ...BASE, ...companions, [name]: '24d' }), name).not.toThrow()
    }
  })

  it('the compiled server stops at start with one line naming REFRESH_TIMEOUT, SHUTDOWN_GRACE_PERIOD or EJENTO_SUBSCRIPTION_KEY', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ REFRESH_TIMEOUT: '30d', REFRESH_CALL_LIMIT: '30d' }, /^ejento-bff: configuration error: REFRESH_TIMEOUT must be at most 24d/],
      [{ SHUTDOWN_GRACE_PERIOD: '30d' }, /^ejento-bff: configuration error: SHUTDOWN_GRACE_PERIOD must be at most 24d/],
      [{ EJENTO_SUBSCRIPTION_KEY: 'gateway\u0001key-0123456789' }, /^ejento-bff: configuration error: EJENTO_SUBSCRIPTION_KEY must be printable ASCII/]
    ]
    for (const [env, line] of cases) {
      const server = await spawnServer({ ...BASE, PORT: '0', LOG_LEVEL: 'silent', ...env })
      const result = await within(20_000, server.exited, 'the exit')
      expect(result.code).toBe(1)
      const lines = result.stderr.split('\n').filter((text) => text.trim() !== '')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(line)
      expect(lines[0]).not.toContain('gateway')
    }
  })
})
