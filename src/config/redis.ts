import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { parseBoolean, parseDuration, parseInteger, parseList } from './parse.js'

/** One Redis server or sentinel, as `host:port` names it. */
export interface RedisAddress {
  host: string
  port: number
}

/** How every connection authenticates and encrypts, whatever the mode. */
export interface RedisAccess {
  /** An ACL user (Redis 6); undefined: `default`, or what REDIS_URL names. */
  username: string | undefined
  /** undefined: none, or what REDIS_URL carries. */
  password: string | undefined
  /** undefined: plain TCP. `ca`: the PEM text of REDIS_TLS_CA (undefined: the system's CAs). */
  tls: { ca: string | undefined } | undefined
}

/** The one mode the deployment runs Redis in: exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES. */
export type RedisMode =
  | { mode: 'standalone', url: string }
  | {
    mode: 'sentinel'
    sentinels: RedisAddress[]
    /** REDIS_SENTINEL_MASTER: the master set's name in the sentinels' configuration. */
    masterName: string
    sentinelUsername: string | undefined
    sentinelPassword: string | undefined
  }
  | { mode: 'cluster', nodes: RedisAddress[] }

export type RedisConfig = RedisMode & {
  access: RedisAccess
  keyPrefix: string
  refreshLockTtlMs: number
  /**
   * A token save (log-in, refresh) waits until this many replicas acknowledge it (WAIT), for
   * at most `waitTimeoutMs`, then goes on either way; 0: no wait.
   */
  waitReplicas: number
  waitTimeoutMs: number
}

type Read = <T>(name: string, parse: (value: string) => T, fallback: T) => T
type Fail = (variable: string, message: string) => never

const MODES = 'REDIS_URL, REDIS_SENTINELS (with REDIS_SENTINEL_MASTER) or REDIS_CLUSTER_NODES'

/**
 * The Redis part of the configuration, or undefined for the in-process store. Every Redis
 * variable is read here, so the rule "exactly one mode, and no setting that the mode would
 * ignore" lives in one place: a mix stops the server at start with one line.
 */
export function readRedis (read: Read, fail: Fail, timer: (parse: (value: string) => number) => (value: string) => number): RedisConfig | undefined {
  const url = read<string | undefined>('REDIS_URL', parseRedisUrl, undefined)
  const sentinels = read<RedisAddress[] | undefined>('REDIS_SENTINELS', (value) => parseAddresses(value, 26379), undefined)
  const masterName = read<string | undefined>('REDIS_SENTINEL_MASTER', parseMasterName, undefined)
  const sentinelUsername = read<string | undefined>('REDIS_SENTINEL_USERNAME', parseUsername, undefined)
  const sentinelPassword = read<string | undefined>('REDIS_SENTINEL_PASSWORD', parsePassword, undefined)
  const nodes = read<RedisAddress[] | undefined>('REDIS_CLUSTER_NODES', (value) => parseAddresses(value, 6379), undefined)
  const username = read<string | undefined>('REDIS_USERNAME', parseUsername, undefined)
  const password = read<string | undefined>('REDIS_PASSWORD', parsePassword, undefined)
  const tlsFlag = read<boolean | undefined>('REDIS_TLS', parseBoolean, undefined)
  const ca = read<string | undefined>('REDIS_TLS_CA', parseCaFile, undefined)
  const waitReplicas = read<number | undefined>('REDIS_WAIT_REPLICAS', (value) => parseInteger(value, 0, 16), undefined)
  const waitTimeoutMs = read('REDIS_WAIT_TIMEOUT', timer(waitTimeout), 500)
  const keyPrefix = read('REDIS_KEY_PREFIX', parseKeyPrefix, 'ejento-bff:')
  const refreshLockTtlMs = read('REFRESH_LOCK_TTL', timer(positive(parseDuration)), 5000)

  const chosen = ([['REDIS_URL', url], ['REDIS_SENTINELS', sentinels], ['REDIS_CLUSTER_NODES', nodes]] as const)
    .filter(([, value]) => value !== undefined).map(([name]) => name)
  if (chosen.length > 1) fail(chosen[1] as string, `cannot be combined with ${chosen[0] as string}: set exactly one of ${MODES}`)
  const onlyWith = (variable: string, value: unknown, needed: string, present: boolean): void => {
    if (value !== undefined && !present) fail(variable, `is set but ${needed} is not`)
  }
  onlyWith('REDIS_SENTINEL_MASTER', masterName, 'REDIS_SENTINELS', sentinels !== undefined)
  onlyWith('REDIS_SENTINEL_USERNAME', sentinelUsername, 'REDIS_SENTINELS', sentinels !== undefined)
  onlyWith('REDIS_SENTINEL_PASSWORD', sentinelPassword, 'REDIS_SENTINELS', sentinels !== undefined)
  if (sentinels !== undefined && masterName === undefined) fail('REDIS_SENTINEL_MASTER', 'is required with REDIS_SENTINELS (the master set name the sentinels watch)')
  const some = chosen.length === 1
  for (const [variable, value] of [['REDIS_USERNAME', username], ['REDIS_PASSWORD', password], ['REDIS_TLS', tlsFlag], ['REDIS_TLS_CA', ca], ['REDIS_WAIT_REPLICAS', waitReplicas]] as const) {
    onlyWith(variable, value, `a Redis (${MODES})`, some)
  }

  let tls: boolean
  if (url !== undefined) {
    // With a URL the scheme says it, as for every other Redis client.
    if (tlsFlag !== undefined) fail('REDIS_TLS', 'is for REDIS_SENTINELS and REDIS_CLUSTER_NODES; with REDIS_URL, rediss:// turns TLS on')
    tls = url.startsWith('rediss:')
    const written = new URL(url)
    const inUrl = written.username !== '' || written.password !== '' || written.searchParams.has('password') || written.searchParams.has('username')
    if (inUrl && (username !== undefined || password !== undefined)) {
      fail(username !== undefined ? 'REDIS_USERNAME' : 'REDIS_PASSWORD', 'is set and REDIS_URL carries credentials too: give them once')
    }
  } else {
    tls = tlsFlag ?? false
  }
  if (nodes !== undefined && !closesItsHashTag(keyPrefix)) {
    fail('REDIS_KEY_PREFIX', 'opens a hash tag ("{") that it does not close with a name: on a Redis Cluster a session and its successor record would land in different slots. Drop the braces, or close them ("{name}:", which keeps every key in one slot)')
  }
  if (ca !== undefined && !tls) fail('REDIS_TLS_CA', `is set but the connection is not TLS (${url === undefined ? 'set REDIS_TLS=true' : 'use rediss:// in REDIS_URL'})`)

  const common = {
    access: { username, password, tls: tls ? { ca } : undefined },
    keyPrefix,
    refreshLockTtlMs,
    // A Sentinel deployment has a replica by definition (it could not fail over without one).
    waitReplicas: waitReplicas ?? (sentinels !== undefined ? 1 : 0),
    waitTimeoutMs
  }
  if (url !== undefined) return { mode: 'standalone', url, ...common }
  if (sentinels !== undefined) return { mode: 'sentinel', sentinels, masterName: masterName as string, sentinelUsername, sentinelPassword, ...common }
  if (nodes !== undefined) return { mode: 'cluster', nodes, ...common }
  return undefined
}

/** The URL as given, its scheme lower-cased (ioredis turns TLS on only for a literal `rediss://`). */
function parseRedisUrl (value: string): string {
  const trimmed = value.trim()
  let url: URL
  try {
    url = new URL(trimmed)
  } catch {
    // Not echoed: an unparseable URL may still carry a password.
    throw new Error('must be a redis:// or rediss:// URL')
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`must use redis:// or rediss:// (got "${url.protocol}")`)
  if (url.hostname === '') throw new Error('must name a host (redis://host:port)')
  return trimmed.replace(/^rediss?:/i, url.protocol)
}

/**
 * `host:port,host:port`; `[v6]:port` for IPv6; a missing port is `defaultPort`. No scheme and
 * no credentials: those are REDIS_TLS and REDIS_USERNAME/REDIS_PASSWORD, the same for every node.
 */
export function parseAddresses (value: string, defaultPort: number): RedisAddress[] {
  const entries = parseList(value)
  if (entries.length === 0) throw new Error('must list at least one host:port')
  // An entry that is not a plain host:port is never echoed: a pasted connection string
  // (`host:6380,password=...,ssl=True`, `rediss://...?password=...`) carries a password. Its position is named instead.
  return entries.map((entry, index) => {
    const which = `entry ${index + 1} of ${entries.length}`
    if (entry.includes('://') || entry.includes('@')) throw new Error(`must list host:port pairs without scheme or credentials (TLS: REDIS_TLS=true; credentials: their own variables); ${which} is not one`)
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(entry)
    const host = match?.[1] ?? match?.[2]
    if (match === null || host === undefined || (match[1] !== undefined && isIP(host) !== 6)) {
      throw new Error(`must list host:port pairs such as redis-a:26379 or [::1]:26379; ${which} is not one (a connection string's password=/ssl= parts belong in REDIS_PASSWORD and REDIS_TLS)`)
    }
    const port = match[3] === undefined ? defaultPort : Number(match[3])
    if (port < 1 || port > 65_535) throw new Error(`has a port out of range in "${entry}"`)
    return { host, port }
  })
}

function parseMasterName (value: string): string {
  const name = value.trim()
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(name)) throw new Error(`must be the master set's name: letters, digits, "." "_" or "-" (got "${value}")`)
  return name
}

function parseUsername (value: string): string {
  const name = value.trim()
  if (!/^[\x21-\x7e]{1,256}$/.test(name)) throw new Error('must be printable ASCII without spaces')
  return name
}

/** Never echoed. A trailing newline (a password read from a file) is not part of it. */
function parsePassword (value: string): string {
  const password = value.replace(/[\r\n]+$/, '')
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(password)) throw new Error('must not hold control characters')
  return password
}

/** The PEM file of the CA that signed the Redis servers' certificates, read once at start. */
function parseCaFile (value: string): string {
  const path = resolve(value.trim())
  let pem: string
  try {
    pem = readFileSync(path, 'utf8')
  } catch (error) {
    throw new Error(`must be a readable PEM file (${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`)
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`must be a PEM file holding a certificate (${path} holds none)`)
  return pem
}

/** WAIT with 0 blocks for ever; a long wait holds every log-in and refresh, so it is bounded. */
function waitTimeout (value: string): number {
  const ms = positive(parseDuration)(value)
  if (ms > 10_000) throw new Error(`must be at most 10s: every log-in and refresh waits this long when no replica answers (got "${value}")`)
  return ms
}

/** Redis Cluster hashes the text between a key's first `{` and the first `}` after it, when not empty. */
function closesItsHashTag (prefix: string): boolean {
  const open = prefix.indexOf('{')
  if (open === -1) return true
  const close = prefix.indexOf('}', open + 1)
  return close > open + 1
}

function parseKeyPrefix (value: string): string {
  const prefix = value.trim()
  if (!/^[A-Za-z0-9_.:{}-]{1,64}$/.test(prefix)) throw new Error(`must be 1 to 64 letters, digits or _.:{}- (got "${value}")`)
  return prefix
}

function positive (parse: (value: string) => number): (value: string) => number {
  return (value) => {
    const parsed = parse(value)
    if (parsed <= 0) throw new Error(`must be greater than zero (got "${value}")`)
    return parsed
  }
}
