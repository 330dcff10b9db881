import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config/index.js'
import { spawnServer } from './helpers/processes.js'

const BASE_ENV: Record<string, string> = {
  EJENTO_AUTH_URL: 'http://127.0.0.1:9',
  EJENTO_API_URL: 'http://127.0.0.1:9',
  SESSION_SECRET: 'startup-test-session-secret-0123456789abcdef'
}

/** A local port nothing listens on (Redis refuses there). */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** The same text twice in one log message ("X: X"), as the error serializer's cause suffix made it. */
function repeated (text: string): string[] {
  const parts = text.split(': ').map((part) => part.trim()).filter((part) => part !== '')
  return parts.filter((part, index) => parts.indexOf(part) !== index)
}

describe('variables that look like ours but are not', () => {
  it('are listed with the closest variable of ours: a misspelled prefix, a name with our prefix, a typo in one without', () => {
    const config = loadConfig({
      ...BASE_ENV,
      SESION_IDLE_TIMEOUT: '2h',
      REDIS_URLS: 'redis://127.0.0.1:6379',
      EJENTO_API: 'http://127.0.0.1:9',
      COOKIE_SECURED: 'false',
      LOG_LEVLE: 'debug'
    })
    expect(config.unknownVariables).toEqual([
      { name: 'COOKIE_SECURED', closest: 'COOKIE_SECURE' },
      { name: 'EJENTO_API', closest: 'EJENTO_API_URL' },
      { name: 'LOG_LEVLE', closest: 'LOG_LEVEL' },
      { name: 'REDIS_URLS', closest: 'REDIS_URL' },
      { name: 'SESION_IDLE_TIMEOUT', closest: 'SESSION_IDLE_TIMEOUT' }
    ])
    // Ignored, as before: the default idle timeout applies.
    expect(config.session.idleTimeoutMs).toBe(3_600_000)
  })

  it('leave alone our own variables (all of them, whatever the Redis mode) and the rest of the environment', () => {
    const config = loadConfig({
      ...BASE_ENV,
      SESSION_IDLE_TIMEOUT: '30m',
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: 'x:',
      REDIS_WAIT_TIMEOUT: '1s',
      AUTH_RATE_LIMIT_WINDOW: '2m',
      TRUST_PROXY: 'loopback',
      HOME: '/home/node',
      HOSTNAME: 'bff-1',
      PATH: '/usr/bin',
      PWD: '/app',
      NODE_ENV: 'production',
      SIM_AUTH_PORT: '8001',
      npm_lifecycle_event: 'start',
      NODE_OPTIONS: '--max-old-space-size=512'
    })
    expect(config.unknownVariables).toEqual([])
  })
})

describe('COOKIE_SECURE', () => {
  it('lists the values it accepts when refused', () => {
    let error: unknown
    try {
      loadConfig({ ...BASE_ENV, COOKIE_SECURE: 'maybe' })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).message).toBe('COOKIE_SECURE must be true or false: one of true, 1, yes, on for true, false, 0, no, off for false, in any case (got "maybe")')
  })

  it('takes each of them', () => {
    for (const value of ['true', '1', 'yes', 'ON']) expect(loadConfig({ ...BASE_ENV, COOKIE_SECURE: value }).session.cookieSecure).toBe(true)
    for (const value of ['false', '0', 'no', 'Off']) expect(loadConfig({ ...BASE_ENV, COOKIE_SECURE: value }).session.cookieSecure).toBe(false)
  })
})

describe('the compiled server\'s start-up log', () => {
  it('names the in-process session store, and warns of a misspelled variable with the one meant', async () => {
    const server = await spawnServer({ ...BASE_ENV, HOST: '127.0.0.1', PORT: '0', COOKIE_SECURE: 'false', SESION_IDLE_TIMEOUT: '2h' })
    await server.listening()
    const logs = server.logs()
    expect(logs).toContainEqual(expect.objectContaining({ level: 30, sessionStore: 'memory', msg: expect.stringMatching(/^session store: in-process memory/) }))
    expect(logs).toContainEqual(expect.objectContaining({
      level: 40,
      variable: 'SESION_IDLE_TIMEOUT',
      closest: 'SESSION_IDLE_TIMEOUT',
      msg: 'SESION_IDLE_TIMEOUT is not a variable of this server and is ignored: did you mean SESSION_IDLE_TIMEOUT?'
    }))
    // Both before the server listens: the first lines an operator reads.
    const listening = logs.findIndex((line) => String(line.msg).startsWith('Server listening'))
    expect(logs.findIndex((line) => line.sessionStore !== undefined)).toBeLessThan(listening)
    expect(logs.findIndex((line) => line.variable !== undefined)).toBeLessThan(listening)
    expect(server.stderr()).toBe('')
  })

  it('names Redis with its address censored; Redis refusing is said once, and no line repeats its own text', async () => {
    const port = await closedPort()
    const server = await spawnServer({ ...BASE_ENV, HOST: '127.0.0.1', PORT: '0', COOKIE_SECURE: 'false', REDIS_URL: `redis://:hunter2-redis-password@127.0.0.1:${port}/2` })
    const base = await server.listening()
    const ready = await fetch(`${base}/readyz`)
    expect(ready.status).toBe(503)
    await ready.arrayBuffer()
    const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"demo@example.com","password":"demo-password"}' })
    expect(login.status).toBe(503)
    await login.arrayBuffer()

    const logs = server.logs()
    expect(logs).toContainEqual(expect.objectContaining({ sessionStore: 'redis', redis: `redis://***@127.0.0.1:${port}/2`, msg: 'session store: Redis, shared by every instance' }))
    expect(logs.filter((line) => String(line.msg).startsWith('Redis is unreachable'))).toHaveLength(1)
    // The readiness probe's warning says the store does not answer, with Redis's own words as the reason, once.
    const notReady = logs.find((line) => line.msg === 'not ready: the session store does not answer') as { reason?: unknown } | undefined
    expect(notReady?.reason).toEqual(expect.stringMatching(/\S/))
    expect(String(notReady?.reason)).not.toMatch(/Redis does not answer/)
    for (const line of logs) {
      const texts = [String(line.msg), String((line.err as { message?: unknown } | undefined)?.message ?? ''), String(line.message ?? ''), String(line.reason ?? '')]
      for (const text of texts) expect(repeated(text), text).toEqual([])
    }
    expect(server.stdout() + server.stderr()).not.toContain('hunter2')
  })
})
