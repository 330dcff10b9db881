import { describe, expect, it } from 'vitest'
import { ConfigError, DEMO_DEFAULTS, loadConfig } from '../src/config/index.js'
import type { Config } from '../src/config/index.js'
import { spawnServer } from './helpers/processes.js'

const SECRET = 'a'.repeat(32) + '-test-session-secret'
const BASE_ENV: Record<string, string> = {
  EJENTO_AUTH_URL: 'http://auth.example.test',
  EJENTO_API_URL: 'https://api.example.test/base/',
  SESSION_SECRET: SECRET
}

function load (overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig({ ...BASE_ENV, ...overrides })
}

/** The ConfigError that loading this environment throws; fails the test when it loads. */
function configError (env: Record<string, string | undefined>, options: { demo?: boolean } = {}): ConfigError {
  try {
    loadConfig(env, options)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`)
}

function expectRefused (overrides: Record<string, string | undefined>, variable: string): ConfigError {
  const error = configError({ ...BASE_ENV, ...overrides })
  expect(error.variable).toBe(variable)
  expect(error.message.startsWith(`${variable} `)).toBe(true)
  expect(error.message).not.toContain('\n')
  return error
}

describe('loadConfig: required variables', () => {
  it('loads a complete environment', () => {
    const config = load()
    expect(config.demo).toBe(false)
    expect(config.session.secrets).toEqual([SECRET])
    expect(config.upstreams.authUrl.href).toBe('http://auth.example.test/')
    // The trailing slash of a base path is dropped so paths join cleanly.
    expect(config.upstreams.apiUrl.pathname).toBe('/base')
    expect(config.port).toBe(3000)
    expect(config.host).toBe('127.0.0.1')
    expect(config.logLevel).toBe('info')
    expect(config.trustProxy).toBe(false)
    expect(config.security.allowedOrigins).toEqual([])
    expect(config.upstreams.subscriptionKey).toBeUndefined()
  })

  it.each(['SESSION_SECRET', 'EJENTO_AUTH_URL', 'EJENTO_API_URL'])('refuses a missing %s outside demo mode, naming it', (variable) => {
    const error = expectRefused({ [variable]: undefined }, variable)
    expect(error.message).toMatch(/required/)
  })

  it.each(['SESSION_SECRET', 'EJENTO_AUTH_URL', 'EJENTO_API_URL'])('treats a blank %s as missing', (variable) => {
    expectRefused({ [variable]: '   ' }, variable)
  })
})

describe('loadConfig: SESSION_SECRET', () => {
  it('refuses a 31-character secret without echoing it', () => {
    const short = 'x7Q!short-secret-of-31-chars-ab'
    expect(short).toHaveLength(31)
    const error = expectRefused({ SESSION_SECRET: short }, 'SESSION_SECRET')
    expect(error.message).toMatch(/32/)
    expect(error.message).not.toContain(short)
  })

  it('accepts exactly 32 characters', () => {
    expect(load({ SESSION_SECRET: 'b'.repeat(32) }).session.secrets).toEqual(['b'.repeat(32)])
  })

  it('accepts a comma list of secrets for rotation, first one first', () => {
    const second = 'c'.repeat(40)
    expect(load({ SESSION_SECRET: `${SECRET}, ${second}` }).session.secrets).toEqual([SECRET, second])
  })

  it('refuses a comma list in which one secret is short, without echoing any', () => {
    const short = 'too-short-secret'
    const error = expectRefused({ SESSION_SECRET: `${SECRET},${short}` }, 'SESSION_SECRET')
    expect(error.message).not.toContain(short)
    expect(error.message).not.toContain(SECRET)
  })

  it('refuses a list that holds no secret at all', () => {
    expectRefused({ SESSION_SECRET: ' , ,' }, 'SESSION_SECRET')
  })
})

describe('loadConfig: upstream URLs', () => {
  it.each([
    ['ftp://files.example.test', 'an ftp URL'],
    ['not a url', 'not a URL'],
    ['auth.example.test', 'a bare host name'],
    ['https://auth.example.test/?tenant=1', 'a query string'],
    ['https://auth.example.test/#top', 'a fragment'],
    ['https://user:pass@auth.example.test', 'credentials']
  ])('refuses %s (%s)', (value) => {
    expectRefused({ EJENTO_AUTH_URL: value }, 'EJENTO_AUTH_URL')
    expectRefused({ EJENTO_API_URL: value }, 'EJENTO_API_URL')
  })

  // The unparseable URL was quoted in the error line, password and all.
  it('regression: never echoes an unparseable URL, which may carry a password', () => {
    const error = expectRefused({ EJENTO_AUTH_URL: 'https://user:hunter2-secret@auth.example.test:99999' }, 'EJENTO_AUTH_URL')
    expect(error.message).not.toContain('hunter2-secret')
  })

  it('keeps a subscription key when given', () => {
    expect(load({ EJENTO_SUBSCRIPTION_KEY: ' gateway-key ' }).upstreams.subscriptionKey).toBe('gateway-key')
  })
})

describe('loadConfig: PORT and HOST', () => {
  it.each(['0', '8080', '65535'])('accepts PORT=%s', (value) => {
    expect(load({ PORT: value, HOST: '0.0.0.0' })).toMatchObject({ port: Number(value), host: '0.0.0.0' })
  })

  it.each(['65536', '-1', '80.5', 'http', '1e3'])('refuses PORT=%s', (value) => {
    expectRefused({ PORT: value }, 'PORT')
  })
})

describe('loadConfig: durations', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['500ms', 500],
    ['45', 45_000],
    ['1.5h', 5_400_000]
  ])('parses %s', (value, expected) => {
    // SESSION_MAX_AGE is the longest, so every value fits under it.
    const config = load({ TOKEN_DEFAULT_LIFETIME: value, SESSION_MAX_AGE: '30d', SESSION_IDLE_TIMEOUT: value })
    expect(config.tokens.defaultLifetimeMs).toBe(expected)
    expect(config.session.idleTimeoutMs).toBe(expected)
  })

  it.each(['soon', '10 minutes', '-5s', '5y', 'ms'])('refuses SESSION_IDLE_TIMEOUT=%s', (value) => {
    const error = expectRefused({ SESSION_IDLE_TIMEOUT: value }, 'SESSION_IDLE_TIMEOUT')
    expect(error.message).toMatch(/duration/)
  })

  it('bounds a refresh by REFRESH_TIMEOUT (10s by default) and refuses a zero one', () => {
    expect(load({}).tokens.refreshTimeoutMs).toBe(10_000)
    expect(load({ REFRESH_TIMEOUT: '3s' }).tokens.refreshTimeoutMs).toBe(3000)
    expectRefused({ REFRESH_TIMEOUT: '0' }, 'REFRESH_TIMEOUT')
  })

  it('bounds a whole request by REQUEST_TIMEOUT (5m) and a silent body by REQUEST_BODY_TIMEOUT (30s), no longer than it', () => {
    expect(load({}).security).toMatchObject({ requestTimeoutMs: 300_000, requestBodyTimeoutMs: 30_000 })
    expect(load({ REQUEST_TIMEOUT: '2m', REQUEST_BODY_TIMEOUT: '1500ms' }).security).toMatchObject({ requestTimeoutMs: 120_000, requestBodyTimeoutMs: 1500 })
    expect(expectRefused({ REQUEST_BODY_TIMEOUT: 'soon' }, 'REQUEST_BODY_TIMEOUT').message).toMatch(/duration/)
    expectRefused({ REQUEST_TIMEOUT: '0' }, 'REQUEST_TIMEOUT')
    expect(expectRefused({ REQUEST_BODY_TIMEOUT: '10m' }, 'REQUEST_BODY_TIMEOUT').message).toContain('REQUEST_TIMEOUT')
  })

  it('refuses a zero session lifetime', () => {
    expectRefused({ SESSION_MAX_AGE: '0' }, 'SESSION_MAX_AGE')
  })

  it('refuses an idle timeout longer than the maximum session age', () => {
    const error = expectRefused({ SESSION_IDLE_TIMEOUT: '2h', SESSION_MAX_AGE: '1h' }, 'SESSION_IDLE_TIMEOUT')
    expect(error.message).toContain('SESSION_MAX_AGE')
    const equal = load({ SESSION_IDLE_TIMEOUT: '1h', SESSION_MAX_AGE: '60m' })
    expect(equal.session).toMatchObject({ idleTimeoutMs: 3_600_000, maxAgeMs: 3_600_000 })
  })

  it('refuses an idle timeout longer than the default maximum age (12h)', () => {
    expectRefused({ SESSION_IDLE_TIMEOUT: '13h' }, 'SESSION_IDLE_TIMEOUT')
  })
})

describe('loadConfig: cookie', () => {
  it('marks the cookie Secure by default and gives it the __Host- prefix', () => {
    const config = load()
    expect(config.session.cookieSecure).toBe(true)
    expect(config.session.cookieName).toBe('__Host-ejento_bff')
  })

  it.each(['false', 'FALSE', '0', 'no', 'off'])('uses a plain name with COOKIE_SECURE=%s', (value) => {
    const config = load({ COOKIE_SECURE: value })
    expect(config.session.cookieSecure).toBe(false)
    expect(config.session.cookieName).toBe('ejento_bff')
  })

  it('refuses a COOKIE_SECURE that is not a boolean', () => {
    expectRefused({ COOKIE_SECURE: 'maybe' }, 'COOKIE_SECURE')
  })

  it('prefixes a custom cookie name and refuses one that already starts with __', () => {
    expect(load({ SESSION_COOKIE_NAME: 'sid' }).session.cookieName).toBe('__Host-sid')
    expectRefused({ SESSION_COOKIE_NAME: '__Secure-sid' }, 'SESSION_COOKIE_NAME')
    expectRefused({ SESSION_COOKIE_NAME: 'bad name;' }, 'SESSION_COOKIE_NAME')
  })
})

describe('loadConfig: ALLOWED_ORIGINS', () => {
  it('parses a comma list of origins', () => {
    const config = load({ ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:5173/ ,https://admin.example.com:8443' })
    expect(config.security.allowedOrigins).toEqual(['https://app.example.com', 'http://localhost:5173', 'https://admin.example.com:8443'])
  })

  it.each([
    'https://app.example.com/path',
    'https://app.example.com,https://other.example.com/login',
    'app.example.com',
    'ftp://app.example.com',
    'https://app.example.com?x=1'
  ])('refuses %s', (value) => {
    expectRefused({ ALLOWED_ORIGINS: value }, 'ALLOWED_ORIGINS')
  })
})

describe('loadConfig: PUBLIC_URL', () => {
  it('is unset by default: no magic links, SSO returns to the request\'s own origin', () => {
    expect(load().publicUrl).toBeUndefined()
    expect(load({ PUBLIC_URL: '  ' }).publicUrl).toBeUndefined()
  })

  it.each([
    ['https://chat.example.com', 'https://chat.example.com'],
    ['https://chat.example.com/', 'https://chat.example.com'],
    [' HTTPS://Chat.Example.COM:443/ ', 'https://chat.example.com'],
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000'],
    ['https://example.com/chat', 'https://example.com/chat'],
    ['https://example.com/apps/chat-v2/', 'https://example.com/apps/chat-v2'],
    ['https://[::1]:8443/x', 'https://[::1]:8443/x']
  ])('accepts %s as %s (no trailing slash, so /auth/... joins cleanly)', (value, expected) => {
    expect(load({ PUBLIC_URL: value }).publicUrl).toBe(expected)
  })

  it.each([
    'chat.example.com',
    '/chat',
    'ftp://chat.example.com',
    'javascript:alert(1)',
    'https://chat.example.com?next=x',
    'https://chat.example.com/?',
    'https://chat.example.com/#top',
    'https://chat.example.com/chat#',
    'https://chat.example.com/a/../b',
    'https://chat.example.com/a/%2e%2e/b',
    'https://chat.example.com//evil.example',
    'https://chat.example.com/a%2fb',
    'https://chat.example.com\\evil',
    'https://chat.example.com/a b',
    'https://'
  ])('refuses %s', (value) => {
    expectRefused({ PUBLIC_URL: value }, 'PUBLIC_URL')
  })

  it('refuses credentials without echoing them', () => {
    const error = expectRefused({ PUBLIC_URL: 'https://user:hunter2-password@chat.example.com/?x' }, 'PUBLIC_URL')
    expect(error.message).not.toContain('hunter2')
  })
})

describe('loadConfig: TRUST_PROXY', () => {
  it.each([
    ['true', true],
    ['false', false],
    ['loopback', 'loopback'],
    ['uniquelocal, LinkLocal', 'uniquelocal,linklocal'],
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.0.0/8, 192.168.1.1', '10.0.0.0/8,192.168.1.1'],
    ['::1,fd00::/8', '::1,fd00::/8']
  ])('parses %s', (value, expected) => {
    expect(load({ TRUST_PROXY: value }).trustProxy).toEqual(expected)
  })

  it.each(['sometimes', 'loadbalancer.internal', '101', '10.0.0.0/33', '::1/129', '10.0.0.1/8/8', '1.2.3', 'loopback,nobody'])('refuses %s', (value) => {
    expectRefused({ TRUST_PROXY: value }, 'TRUST_PROXY')
  })

  // Fastify 5 fails closed on a numeric trustProxy: the README's `TRUST_PROXY=1` trusted nobody
  // behind the balancer (every log-in 403 csrf_rejected, one rate-limit bucket for everyone).
  it.each(['1', '2', '0'])('regression: refuses the hop count %s with a line that says why', (value) => {
    expect(() => load({ TRUST_PROXY: value })).toThrow(/TRUST_PROXY must name the load balancer's addresses, not a hop count/)
  })
})

describe('loadConfig: LOG_LEVEL', () => {
  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('accepts %s', (level) => {
    expect(load({ LOG_LEVEL: level }).logLevel).toBe(level)
  })

  it('is case-insensitive', () => {
    expect(load({ LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug')
  })

  it.each(['verbose', 'warning', '30'])('refuses %s', (level) => {
    expectRefused({ LOG_LEVEL: level }, 'LOG_LEVEL')
  })
})

describe('loadConfig: demo mode', () => {
  it('needs no variable: embedded secret, cookie not Secure', () => {
    const config = loadConfig({}, { demo: true })
    expect(config.demo).toBe(true)
    expect(config.session.secrets).toEqual([DEMO_DEFAULTS.SESSION_SECRET])
    expect(config.session.secrets[0]?.length).toBeGreaterThanOrEqual(32)
    expect(config.session.cookieSecure).toBe(false)
    expect(config.session.cookieName).toBe('ejento_bff')
    expect(config.port).toBe(3000)
  })

  it('still honours PORT, HOST and LOG_LEVEL, and still validates them', () => {
    const config = loadConfig({ PORT: '4100', HOST: '0.0.0.0', LOG_LEVEL: 'debug' }, { demo: true })
    expect(config).toMatchObject({ port: 4100, host: '0.0.0.0', logLevel: 'debug' })
    expect(configError({ PORT: '70000' }, { demo: true }).variable).toBe('PORT')
  })

  it('never uses the demo secret outside demo mode', () => {
    expect(configError({ EJENTO_AUTH_URL: 'http://a.test', EJENTO_API_URL: 'http://b.test' }).variable).toBe('SESSION_SECRET')
  })
})

describe('the server process', () => {
  it('exits 1 with one line naming SESSION_SECRET when it is missing', async () => {
    const run = await (await spawnServer({ EJENTO_AUTH_URL: 'http://127.0.0.1:9', EJENTO_API_URL: 'http://127.0.0.1:9' })).exited
    expect(run.code).toBe(1)
    const lines = run.stderr.split('\n').filter((line) => line.trim() !== '')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^ejento-bff: configuration error: SESSION_SECRET /)
  })

  it('exits 1 with one line naming the variable, without the secret, when the secret is short', async () => {
    const short = 'short-secret-value-zq'
    const run = await (await spawnServer({ EJENTO_AUTH_URL: 'http://127.0.0.1:9', EJENTO_API_URL: 'http://127.0.0.1:9', SESSION_SECRET: short })).exited
    expect(run.code).toBe(1)
    const lines = run.stderr.split('\n').filter((line) => line.trim() !== '')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^ejento-bff: configuration error: SESSION_SECRET /)
    expect(run.stderr + run.stdout).not.toContain(short)
  })

  it('starts with a complete environment, serves /healthz, and exits 0 on SIGTERM', async () => {
    const server = await spawnServer({ ...BASE_ENV, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' })
    const address = await server.listening()
    expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const health = await fetch(`${address}/healthz`)
    expect(health.status).toBe(200)
    await health.arrayBuffer()
    // Every stdout line is a JSON log line.
    for (const line of server.stdout().split('\n').filter((candidate) => candidate !== '')) {
      expect(() => JSON.parse(line) as unknown).not.toThrow()
    }

    server.child.kill('SIGTERM')
    const run = await server.exited
    expect(run.signal).toBeNull()
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('shutting down')
    expect(run.stderr, 'a clean start writes nothing to stderr').toBe('')
  })
})
