import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config/index.js'
import type { Config } from '../src/config/index.js'
import { describeRedis } from '../src/redis.js'
import { spawnServer } from './helpers/processes.js'

const SECRET = 'a'.repeat(32) + '-test-session-secret'
const BASE_ENV: Record<string, string> = {
  EJENTO_AUTH_URL: 'http://auth.example.test',
  EJENTO_API_URL: 'https://api.example.test',
  SESSION_SECRET: SECRET
}
const PASSWORD = 'p4ss-W0rd-never-echoed'
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n'

let folder: string
let caFile: string
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'bff-config-redis-'))
  caFile = join(folder, 'ca.pem')
  await writeFile(caFile, PEM)
  await writeFile(join(folder, 'not-a-pem.txt'), 'hello')
})
afterAll(async () => { await rm(folder, { recursive: true, force: true }) })

function redis (overrides: Record<string, string | undefined>): NonNullable<Config['redis']> {
  const config = loadConfig({ ...BASE_ENV, ...overrides })
  if (config.redis === undefined) throw new Error('no Redis configured')
  return config.redis
}

/** The one-line ConfigError this environment stops the server with, naming `variable`. */
function refused (overrides: Record<string, string | undefined>, variable: string): string {
  let error: unknown
  try {
    loadConfig({ ...BASE_ENV, ...overrides })
  } catch (caught) {
    error = caught
  }
  expect(error, `expected ${variable} to be refused`).toBeInstanceOf(ConfigError)
  const { message, variable: named } = error as ConfigError
  expect(named).toBe(variable)
  expect(message.startsWith(`${variable} `)).toBe(true)
  expect(message).not.toContain('\n')
  expect(message).not.toContain(PASSWORD)
  return message
}

describe('Redis configuration: one server (REDIS_URL)', () => {
  it('no Redis variable: the in-process store', () => {
    expect(loadConfig(BASE_ENV).redis).toBeUndefined()
  })

  it('redis:// is plain TCP, no wait for replicas by default', () => {
    expect(redis({ REDIS_URL: 'redis://cache:6379/2' })).toMatchObject({
      mode: 'standalone', url: 'redis://cache:6379/2', access: { tls: undefined, username: undefined, password: undefined }, waitReplicas: 0, waitTimeoutMs: 500, keyPrefix: 'ejento-bff:'
    })
  })

  it('rediss:// with a user and password is TLS, the credentials left in the URL for the client to read', () => {
    const config = redis({ REDIS_URL: `rediss://bff:${PASSWORD}@cache.example:6380` })
    expect(config).toMatchObject({ mode: 'standalone', url: `rediss://bff:${PASSWORD}@cache.example:6380`, access: { tls: { ca: undefined } } })
    // A log line names the server, never the credentials.
    expect(describeRedis(config)).toBe('rediss://***@cache.example:6380')
  })

  it('a scheme in capitals still turns TLS on (the client looks for a literal rediss://)', () => {
    const config = redis({ REDIS_URL: 'REDISS://cache.example:6380' })
    expect(config).toMatchObject({ mode: 'standalone', url: 'rediss://cache.example:6380', access: { tls: { ca: undefined } } })
  })

  it('REDIS_TLS_CA is read at start: the PEM text is kept', () => {
    expect(redis({ REDIS_URL: 'rediss://cache.example:6380', REDIS_TLS_CA: caFile }).access.tls).toEqual({ ca: PEM })
  })

  it('REDIS_TLS_CA refuses a missing file, a file without a certificate, and a plain redis:// URL', () => {
    expect(refused({ REDIS_URL: 'rediss://cache.example:6380', REDIS_TLS_CA: join(folder, 'missing.pem') }, 'REDIS_TLS_CA')).toMatch(/readable PEM file .*ENOENT/)
    expect(refused({ REDIS_URL: 'rediss://cache.example:6380', REDIS_TLS_CA: join(folder, 'not-a-pem.txt') }, 'REDIS_TLS_CA')).toMatch(/holds none/)
    expect(refused({ REDIS_URL: 'redis://cache.example:6379', REDIS_TLS_CA: caFile }, 'REDIS_TLS_CA')).toMatch(/not TLS .*rediss:\/\//)
  })

  it('REDIS_USERNAME and REDIS_PASSWORD fill in for a URL without credentials, and are refused beside a URL that has some', () => {
    expect(redis({ REDIS_URL: 'rediss://cache.example:6380', REDIS_USERNAME: 'bff', REDIS_PASSWORD: `${PASSWORD}\n` }).access)
      .toMatchObject({ username: 'bff', password: PASSWORD })
    expect(refused({ REDIS_URL: `redis://:${PASSWORD}@cache:6379`, REDIS_PASSWORD: PASSWORD }, 'REDIS_PASSWORD')).toMatch(/give them once/)
    expect(refused({ REDIS_URL: `redis://cache:6379?password=${PASSWORD}`, REDIS_USERNAME: 'bff' }, 'REDIS_USERNAME')).toMatch(/give them once/)
  })

  it('REDIS_TLS is refused beside REDIS_URL: the scheme says it', () => {
    expect(refused({ REDIS_URL: 'redis://cache:6379', REDIS_TLS: 'true' }, 'REDIS_TLS')).toMatch(/rediss:\/\//)
  })

  it('refuses what is not a redis URL, without echoing it', () => {
    expect(refused({ REDIS_URL: `http://u:${PASSWORD}@cache:6379` }, 'REDIS_URL')).toMatch(/redis:\/\/ or rediss:\/\//)
    refused({ REDIS_URL: `not a url ${PASSWORD}` }, 'REDIS_URL')
  })
})

describe('Redis configuration: Sentinel (REDIS_SENTINELS)', () => {
  it('a list of sentinels (port 26379 when not given, IPv6 in brackets) and the master set name', () => {
    expect(redis({ REDIS_SENTINELS: 'sentinel-a:26380, sentinel-b ,[::1]:26381', REDIS_SENTINEL_MASTER: 'sessions' })).toMatchObject({
      mode: 'sentinel',
      sentinels: [{ host: 'sentinel-a', port: 26380 }, { host: 'sentinel-b', port: 26379 }, { host: '::1', port: 26381 }],
      masterName: 'sessions',
      sentinelUsername: undefined,
      sentinelPassword: undefined,
      access: { tls: undefined }
    })
  })

  it('waits for one replica by default (a Sentinel set has one), REDIS_WAIT_REPLICAS=0 turns it off', () => {
    const env = { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' }
    expect(redis(env)).toMatchObject({ waitReplicas: 1, waitTimeoutMs: 500 })
    expect(redis({ ...env, REDIS_WAIT_REPLICAS: '0' }).waitReplicas).toBe(0)
    expect(redis({ ...env, REDIS_WAIT_REPLICAS: '2', REDIS_WAIT_TIMEOUT: '250ms' })).toMatchObject({ waitReplicas: 2, waitTimeoutMs: 250 })
  })

  it('credentials for the sentinels and for the Redis servers, and TLS to both with a private CA', () => {
    const config = redis({
      REDIS_SENTINELS: 's1:26379,s2:26379',
      REDIS_SENTINEL_MASTER: 'm',
      REDIS_SENTINEL_USERNAME: 'watcher',
      REDIS_SENTINEL_PASSWORD: PASSWORD,
      REDIS_USERNAME: 'bff',
      REDIS_PASSWORD: PASSWORD,
      REDIS_TLS: 'true',
      REDIS_TLS_CA: caFile
    })
    expect(config).toMatchObject({ mode: 'sentinel', sentinelUsername: 'watcher', sentinelPassword: PASSWORD, access: { username: 'bff', password: PASSWORD, tls: { ca: PEM } } })
    expect(describeRedis(config)).toBe('sentinel master "m" via s1:26379,s2:26379 (TLS)')
  })

  it('REDIS_SENTINELS needs REDIS_SENTINEL_MASTER; the sentinel settings need REDIS_SENTINELS', () => {
    expect(refused({ REDIS_SENTINELS: 's:26379' }, 'REDIS_SENTINEL_MASTER')).toMatch(/required with REDIS_SENTINELS/)
    for (const variable of ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD']) {
      expect(refused({ REDIS_URL: 'redis://cache:6379', [variable]: variable === 'REDIS_SENTINEL_PASSWORD' ? PASSWORD : 'm' }, variable)).toMatch(/REDIS_SENTINELS is not/)
    }
  })

  it('refuses addresses with a scheme or credentials (without echoing the password), and bad ports', () => {
    expect(refused({ REDIS_SENTINELS: `redis://u:${PASSWORD}@s:26379`, REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS')).toMatch(/without scheme or credentials/)
    refused({ REDIS_SENTINELS: 's:0', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS')
    refused({ REDIS_SENTINELS: 's:70000', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS')
    refused({ REDIS_SENTINELS: 's:26379/0', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS')
    refused({ REDIS_SENTINELS: '[not-v6]:26379', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS')
    refused({ REDIS_SENTINELS: ' , ', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS')
    refused({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'two words' }, 'REDIS_SENTINEL_MASTER')
  })
})

describe('Redis configuration: Cluster (REDIS_CLUSTER_NODES)', () => {
  it('a list of seed nodes (port 6379 when not given), no wait for replicas unless asked', () => {
    expect(redis({ REDIS_CLUSTER_NODES: 'node-a:7000,node-b', REDIS_PASSWORD: PASSWORD, REDIS_TLS: 'yes' })).toMatchObject({
      mode: 'cluster', nodes: [{ host: 'node-a', port: 7000 }, { host: 'node-b', port: 6379 }], waitReplicas: 0, access: { password: PASSWORD, tls: { ca: undefined } }
    })
    expect(redis({ REDIS_CLUSTER_NODES: 'node-a:7000', REDIS_WAIT_REPLICAS: '1' }).waitReplicas).toBe(1)
  })
})

describe('Redis configuration: exactly one mode', () => {
  it.each([
    [{ REDIS_URL: 'redis://cache:6379', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS', 'REDIS_URL'],
    [{ REDIS_URL: 'redis://cache:6379', REDIS_CLUSTER_NODES: 'n:7000' }, 'REDIS_CLUSTER_NODES', 'REDIS_URL'],
    [{ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_CLUSTER_NODES: 'n:7000' }, 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'],
    [{ REDIS_URL: `redis://:${PASSWORD}@cache:6379`, REDIS_SENTINELS: 's:26379', REDIS_CLUSTER_NODES: 'n:7000' }, 'REDIS_SENTINELS', 'REDIS_URL']
  ])('a mix is one line naming both (%#)', (env, variable, other) => {
    const message = refused(env, variable)
    expect(message).toContain(`cannot be combined with ${other}`)
    expect(message).toContain('set exactly one of REDIS_URL, REDIS_SENTINELS (with REDIS_SENTINEL_MASTER) or REDIS_CLUSTER_NODES')
  })

  it.each(['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS', 'REDIS_TLS_CA', 'REDIS_WAIT_REPLICAS'])('%s without any Redis is refused (the sessions would silently stay in-process)', (variable) => {
    const value = { REDIS_USERNAME: 'bff', REDIS_PASSWORD: PASSWORD, REDIS_TLS: 'true', REDIS_TLS_CA: caFile, REDIS_WAIT_REPLICAS: '1' }[variable] as string
    expect(refused({ [variable]: value }, variable)).toMatch(/but a Redis \(REDIS_URL, REDIS_SENTINELS/)
  })

  it('REDIS_WAIT_TIMEOUT is bounded: more than zero (WAIT 0 blocks for ever), at most 10s', () => {
    const env = { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' }
    refused({ ...env, REDIS_WAIT_TIMEOUT: '0' }, 'REDIS_WAIT_TIMEOUT')
    expect(refused({ ...env, REDIS_WAIT_TIMEOUT: '11s' }, 'REDIS_WAIT_TIMEOUT')).toMatch(/at most 10s/)
    refused({ ...env, REDIS_WAIT_REPLICAS: '-1' }, 'REDIS_WAIT_REPLICAS')
    refused({ ...env, REDIS_WAIT_REPLICAS: '17' }, 'REDIS_WAIT_REPLICAS')
  })

  it('the compiled server stops at start with that one line, and no password in its output', async () => {
    const run = await (await spawnServer({
      ...BASE_ENV,
      PORT: '0',
      REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:9`,
      REDIS_SENTINELS: '127.0.0.1:9',
      REDIS_SENTINEL_MASTER: 'm'
    })).exited
    expect(run.code).toBe(1)
    const lines = run.stderr.split('\n').filter((line) => line.trim() !== '')
    expect(lines).toEqual(['ejento-bff: configuration error: REDIS_SENTINELS cannot be combined with REDIS_URL: set exactly one of REDIS_URL, REDIS_SENTINELS (with REDIS_SENTINEL_MASTER) or REDIS_CLUSTER_NODES'])
    expect(run.stdout + run.stderr).not.toContain(PASSWORD)
  })
})
