import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config/index.js'
import { BASE_ENV, startError } from './helpers/start-error.js'

const PASSWORD = 'Azure+Key/Never=Echoed0123456789'

/**
 * Regression (found attacking issue 14): Azure's portal hands out connection strings such as
 * `name.redis.cache.windows.net:6380,password=...,ssl=True,abortConnect=False`. Pasted into
 * REDIS_CLUSTER_NODES or REDIS_SENTINELS, the start error echoed the entry that was not a
 * host:port pair: the password, on the console and in the platform's logs. It now names the
 * entry's position, never its text.
 */
describe('regression: a pasted Redis connection string printed its password at start', () => {
  const pasted = [
    `myc.redis.cache.windows.net:6380,password=${PASSWORD},ssl=True,abortConnect=False`,
    `rediss://myc.redis.cache.windows.net:6380?password=${encodeURIComponent(PASSWORD)}`,
    `myc.redis.cache.windows.net:6380?password=${PASSWORD}`
  ]
  for (const value of pasted) {
    it(`REDIS_CLUSTER_NODES and REDIS_SENTINELS refuse ${value.slice(0, 40)}... without echoing it`, () => {
      const envs: Array<Record<string, string>> = [{ REDIS_CLUSTER_NODES: value }, { REDIS_SENTINELS: value, REDIS_SENTINEL_MASTER: 'm' }]
      for (const env of envs) {
        const error = startError(env)
        expect(error.variable).toBe(Object.keys(env)[0])
        expect(error.message).not.toContain(PASSWORD)
        expect(error.message).not.toContain(encodeURIComponent(PASSWORD))
        expect(error.message).toMatch(/entry \d of \d/)
      }
    })
  }
})

/**
 * Regression (found attacking issue 14): on a Redis Cluster, a REDIS_KEY_PREFIX that opens a hash
 * tag it does not close (`a{b`) crashed the start with a stack trace from the session store,
 * instead of the one line naming the variable that every other bad value gets.
 */
describe('regression: an unclosed hash tag in REDIS_KEY_PREFIX crashed a Cluster start', () => {
  it('is one configuration error naming REDIS_KEY_PREFIX, on a cluster only', () => {
    for (const prefix of ['a{b', '{', 'x{}:', 'a{b:']) {
      const error = startError({ REDIS_CLUSTER_NODES: 'node-a:7000', REDIS_KEY_PREFIX: prefix })
      expect(error.variable).toBe('REDIS_KEY_PREFIX')
      expect(error.message).toMatch(/hash tag/)
    }
    expect(() => loadConfig({ ...BASE_ENV, REDIS_CLUSTER_NODES: 'node-a:7000', REDIS_KEY_PREFIX: '{bff}:' })).not.toThrow()
    expect(() => loadConfig({ ...BASE_ENV, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: 'a{b' })).not.toThrow()
  })
})
