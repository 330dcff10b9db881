import { readdirSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseBaseUrl, parseBoolean, parseBytes, parseDuration, parseInteger, parseList, parseOrigin, parsePublicUrl, parseTrustProxy } from './parse.js'
import type { PathProfileName } from '../upstream/paths.js'
import { PATH_PROFILES } from '../upstream/paths.js'
import { readRedis } from './redis.js'
import { OTEL_VARIABLES, readTracing } from '../tracing/config.js'
import type { TracingConfig } from '../tracing/config.js'
import type { RedisConfig } from './redis.js'
import { unknownVariables } from './unknown-variables.js'
import type { UnknownVariable } from './unknown-variables.js'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface Config {
  /** Demo mode: embedded defaults and the built-in simulator. */
  demo: boolean
  host: string
  port: number
  logLevel: LogLevel
  /** Fastify's `trustProxy`: all, none, or the balancer's addresses (comma-separated). */
  trustProxy: boolean | string
  /** On SIGTERM/SIGINT, how long open requests and streams may take to finish before they are cut. */
  shutdownGraceMs: number
  /** A folder whose files (a browser app) are served at `/`; undefined: none. Demo mode serves `web/`. */
  staticDir: string | undefined
  /** When set, `GET /metrics` needs `Authorization: Bearer <this>`; undefined: open (keep it off the public network). */
  metricsToken: string | undefined
  /**
   * The BFF's public address as browsers reach it (origin and optional path prefix, no trailing
   * slash), where Ejento's magic links and SSO come back to; undefined: magic links are not asked
   * for, and SSO comes back to the request's own origin. Never derived from a request's Host.
   */
  publicUrl: string | undefined
  upstreams: {
    authUrl: URL
    apiUrl: URL
    subscriptionKey: string | undefined
    pathProfile: PathProfileName
    connectTimeoutMs: number
    headersTimeoutMs: number
    bodyTimeoutMs: number
    connections: number
  }
  session: {
    /** First signs and encrypts; all verify and decrypt. */
    secrets: string[]
    cookieName: string
    cookieSecure: boolean
    idleTimeoutMs: number
    maxAgeMs: number
    maxCount: number
  }
  tokens: {
    refreshSkewMs: number
    defaultLifetimeMs: number
    /** The longest a caller waits for a refresh (a 504 past it, the session kept); the refresh goes on. */
    refreshTimeoutMs: number
    /** The longest a refresh call upstream may run before it is given up; it bounds how long a refresh holds its lock. */
    refreshCallLimitMs: number
  }
  /** Shared state for several instances (one Redis, a Sentinel set or a Cluster); undefined: the in-process store. */
  redis: RedisConfig | undefined
  security: {
    allowedOrigins: string[]
    bodyLimit: number
    /** Passthrough bodies: the largest accepted, and the largest kept in memory for a retry. */
    proxyBodyLimit: number
    proxyRetryBuffer: number
    /** The longest a whole request (headers and body) may take to arrive: Node.js's requestTimeout. */
    requestTimeoutMs: number
    /** The longest a request body may go without a byte. */
    requestBodyTimeoutMs: number
    authRateLimit: { perIp: number, perAccount: number, windowMs: number }
  }
  /** OpenTelemetry tracing (the standard OTEL_* variables); undefined: off, and the SDK never loaded. */
  tracing: TracingConfig | undefined
  /** Set variables that look like ours but are not (a misspelling is otherwise silently ignored); warned about at start. */
  unknownVariables: UnknownVariable[]
}

/** A bad or missing variable; the message is one line that names it. */
export class ConfigError extends Error {
  readonly variable: string
  constructor (variable: string, message: string) {
    super(`${variable} ${message}`)
    this.name = 'ConfigError'
    this.variable = variable
  }
}

/** What demo mode fills in when a variable is unset. Never used outside demo mode. */
export const DEMO_DEFAULTS = {
  SESSION_SECRET: 'demo-only-session-secret-do-not-use-in-production',
  COOKIE_SECURE: 'false'
} as const

type Env = Record<string, string | undefined>

/** Reads and validates the whole configuration once; throws `ConfigError` on the first bad value. */
export function loadConfig (env: Env, options: { demo?: boolean } = {}): Config {
  const demo = options.demo ?? false
  // Every variable read is one of ours: what else looks like ours is a misspelling.
  const known = new Set<string>()
  const read = <T>(name: string, parse: (value: string) => T, fallback: T | (() => T)): T => {
    known.add(name)
    const raw = env[name]
    if (raw === undefined || raw.trim() === '') {
      return typeof fallback === 'function' ? (fallback as () => T)() : fallback
    }
    try {
      return parse(raw)
    } catch (error) {
      throw new ConfigError(name, (error as Error).message)
    }
  }
  const required = (name: string): never => {
    throw new ConfigError(name, demo ? 'is required' : 'is required (or run `npm run demo` for the built-in simulator)')
  }

  const secrets = read('SESSION_SECRET', parseSecrets, () => demo ? [DEMO_DEFAULTS.SESSION_SECRET] : required('SESSION_SECRET'))
  const cookieSecure = read('COOKIE_SECURE', parseBoolean, !demo)
  const cookieBaseName = read('SESSION_COOKIE_NAME', parseCookieName, 'ejento_bff')
  const idleTimeoutMs = read('SESSION_IDLE_TIMEOUT', positive(parseDuration), 3_600_000)
  const maxAgeMs = read('SESSION_MAX_AGE', positive(parseDuration), 12 * 3_600_000)
  if (idleTimeoutMs > maxAgeMs) throw new ConfigError('SESSION_IDLE_TIMEOUT', 'must not be longer than SESSION_MAX_AGE')
  const requestTimeoutMs = read('REQUEST_TIMEOUT', timer(positive(parseDuration)), 300_000)
  const requestBodyTimeoutMs = read('REQUEST_BODY_TIMEOUT', timer(positive(parseDuration)), 30_000)
  if (requestBodyTimeoutMs > requestTimeoutMs) throw new ConfigError('REQUEST_BODY_TIMEOUT', 'must not be longer than REQUEST_TIMEOUT')
  const refreshTimeoutMs = read('REFRESH_TIMEOUT', timer(positive(parseDuration)), 10_000)
  const refreshCallLimitMs = read('REFRESH_CALL_LIMIT', timer(positive(parseDuration)), 60_000)
  if (refreshCallLimitMs < refreshTimeoutMs) throw new ConfigError('REFRESH_CALL_LIMIT', 'must not be shorter than REFRESH_TIMEOUT')

  const config: Omit<Config, 'unknownVariables' | 'tracing'> = {
    demo,
    host: read('HOST', (value) => value.trim(), '127.0.0.1'),
    port: read('PORT', (value) => parseInteger(value, 0, 65_535), 3000),
    logLevel: read('LOG_LEVEL', parseLogLevel, 'info'),
    trustProxy: read('TRUST_PROXY', parseTrustProxy, false),
    shutdownGraceMs: read('SHUTDOWN_GRACE_PERIOD', timer(parseDuration), 25_000),
    staticDir: read<string | undefined>('STATIC_DIR', parseDirectory, undefined),
    metricsToken: read<string | undefined>('METRICS_TOKEN', parseMetricsToken, undefined),
    publicUrl: read<string | undefined>('PUBLIC_URL', parsePublicUrl, undefined),
    upstreams: {
      // Demo mode overrides these with the simulator's addresses once it listens.
      authUrl: read('EJENTO_AUTH_URL', parseBaseUrl, () => demo ? new URL('http://127.0.0.1:0') : required('EJENTO_AUTH_URL')),
      apiUrl: read('EJENTO_API_URL', parseBaseUrl, () => demo ? new URL('http://127.0.0.1:0') : required('EJENTO_API_URL')),
      subscriptionKey: read<string | undefined>('EJENTO_SUBSCRIPTION_KEY', parseSubscriptionKey, undefined),
      pathProfile: read('EJENTO_PATH_PROFILE', parsePathProfile, 'guide'),
      connectTimeoutMs: read('UPSTREAM_CONNECT_TIMEOUT', timer(positive(parseDuration)), 10_000),
      headersTimeoutMs: read('UPSTREAM_HEADERS_TIMEOUT', timer(positive(parseDuration)), 60_000),
      bodyTimeoutMs: read('UPSTREAM_BODY_TIMEOUT', timer(positive(parseDuration)), 300_000),
      connections: read('UPSTREAM_CONNECTIONS', (value) => parseInteger(value, 1, 100_000), 1024)
    },
    session: {
      secrets,
      // The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
      cookieName: cookieSecure ? `__Host-${cookieBaseName}` : cookieBaseName,
      cookieSecure,
      idleTimeoutMs,
      maxAgeMs,
      maxCount: read('SESSION_MAX_COUNT', (value) => parseInteger(value, 1, 100_000_000), 100_000)
    },
    tokens: {
      refreshSkewMs: read('TOKEN_REFRESH_SKEW', parseDuration, 60_000),
      defaultLifetimeMs: read('TOKEN_DEFAULT_LIFETIME', positive(parseDuration), 2 * 86_400_000),
      refreshTimeoutMs,
      refreshCallLimitMs
    },
    redis: readRedis(read, (variable, message) => { throw new ConfigError(variable, message) }, timer),
    security: {
      allowedOrigins: read('ALLOWED_ORIGINS', (value) => parseList(value).map((origin, index, origins) => parseOrigin(origin, index, origins.length)), []),
      bodyLimit: read('BODY_LIMIT', positive(parseBytes), 1024 * 1024),
      proxyBodyLimit: read('PROXY_BODY_LIMIT', positive(parseBytes), 25 * 1024 * 1024),
      proxyRetryBuffer: read('PROXY_RETRY_BUFFER', parseBytes, 1024 * 1024),
      requestTimeoutMs,
      requestBodyTimeoutMs,
      authRateLimit: {
        perIp: read('AUTH_RATE_LIMIT_PER_IP', (value) => parseInteger(value, 1, 1_000_000), 20),
        perAccount: read('AUTH_RATE_LIMIT_PER_ACCOUNT', (value) => parseInteger(value, 1, 1_000_000), 10),
        windowMs: read('AUTH_RATE_LIMIT_WINDOW', positive(parseDuration), 60_000)
      }
    }
  }
  // The SDK reads the OTEL_* variables itself; they are known, so only their misspellings are warned about.
  for (const name of OTEL_VARIABLES) known.add(name)
  const tracing = readTracing(env, (variable, message) => { throw new ConfigError(variable, message) })
  return { ...config, tracing, unknownVariables: unknownVariables(env, known) }
}

function parseDirectory (value: string): string {
  const path = resolve(value.trim())
  let isDirectory: boolean
  try {
    isDirectory = statSync(path).isDirectory()
  } catch {
    throw new Error(`must be an existing directory (${path} does not exist)`)
  }
  if (!isDirectory) throw new Error(`must be a directory (${path} is not one)`)
  const clashes = readdirSync(path).filter((name) => STATIC_RESERVED.includes(name.toLowerCase()))
  if (clashes.length > 0) throw new Error(`must not hold ${clashes.join(', ')}: ${path} would shadow the BFF's own routes`)
  return path
}

/** First path segments that belong to the BFF itself; a served folder may not shadow them. */
export const STATIC_RESERVED = ['auth', 'api', 'proxy', 'docs', 'metrics', 'healthz', 'readyz']

/** The longest delay a Node.js timer holds (2^31 - 1 ms, about 24.8 days): a longer one fires after 1 ms, with only a warning. */
const LONGEST_TIMER_MS = 2_147_483_647

/**
 * A duration that becomes a timer. Past Node.js's longest, it is refused rather than fired at
 * once: REFRESH_TIMEOUT=30d answered every refresh 504 at once (and REFRESH_CALL_LIMIT=30d
 * aborted every refresh call, tokens perhaps already rotated), SHUTDOWN_GRACE_PERIOD=30d cut
 * every stream the moment SIGTERM came.
 */
function timer (parse: (value: string) => number): (value: string) => number {
  return (value) => {
    const parsed = parse(value)
    if (parsed > LONGEST_TIMER_MS) throw new Error(`must be at most 24d, the longest timer Node.js holds (got "${value}")`)
    return parsed
  }
}

function positive (parse: (value: string) => number): (value: string) => number {
  return (value) => {
    const parsed = parse(value)
    if (parsed <= 0) throw new Error(`must be greater than zero (got "${value}")`)
    return parsed
  }
}

function parseSecrets (value: string): string[] {
  const secrets = parseList(value)
  if (secrets.length === 0) throw new Error('must hold at least one secret')
  for (const [index, secret] of secrets.entries()) {
    // Never echo a secret, not even a rejected one.
    if (secret.length < 32) throw new Error(`must be at least 32 characters (secret number ${index + 1} has ${secret.length})`)
  }
  return secrets
}

function parseCookieName (value: string): string {
  const name = value.trim()
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name) || name.startsWith('__')) {
    throw new Error(`must be 1 to 64 letters, digits, "_", "." or "-", not starting with "__" (got "${value}")`)
  }
  return name
}

function parseLogLevel (value: string): LogLevel {
  const level = value.trim().toLowerCase()
  const levels: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
  if (!levels.includes(level as LogLevel)) throw new Error(`must be one of ${levels.join(', ')} (got "${value}")`)
  return level as LogLevel
}

function parsePathProfile (value: string): PathProfileName {
  const name = value.trim()
  if (!Object.hasOwn(PATH_PROFILES, name)) throw new Error(`must be one of ${Object.keys(PATH_PROFILES).join(', ')} (got "${value}")`)
  return name as PathProfileName
}

/** Sent as a header on every upstream call: a control character or space in it failed every call as "could not be reached". */
function parseSubscriptionKey (value: string): string {
  const key = value.trim()
  if (!/^[\x21-\x7e]+$/.test(key)) throw new Error('must be printable ASCII without spaces or control characters')
  return key
}

/** A scraper's bearer token: long enough not to be guessed, and nothing a header cannot carry. */
function parseMetricsToken (value: string): string {
  const token = value.trim()
  if (token.length < 16) throw new Error('must be at least 16 characters')
  if (!/^[\x21-\x7e]+$/.test(token)) throw new Error('must be printable ASCII without spaces')
  return token
}
