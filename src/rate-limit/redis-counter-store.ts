import type { Cluster, Redis } from 'ioredis'

/**
 * One fixed-window counter: the first hit starts the window, later hits only count.
 * A key that somehow lost its expiry gets the window again, so no counter lives forever.
 */
const INCREMENT = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`

type Callback = (error: Error | null, result: { current: number, ttl: number } | null) => void

interface CountingRedis {
  bffRateLimitIncrement: (key: string, windowMs: number, callback: (error: Error | null | undefined, result?: [number, number]) => void) => void
}

/**
 * A `store` for @fastify/rate-limit on the BFF's one Redis client. Its own Redis store names
 * the counters of `createRateLimit()` limiters `<prefix>undefinedundefined-<key>` (it reads a
 * route that such limiters do not have); this one names them `<prefix><key>`, e.g.
 * `ejento-bff:rate-limit:ip:10.0.0.7`, so an operator can find and clear them. One key per
 * counter and per script, so on a Redis Cluster each counter lives on the primary of its slot.
 */
export function redisCounterStore (redis: Redis | Cluster, prefix: string): new () => object {
  if (!('bffRateLimitIncrement' in redis)) redis.defineCommand('bffRateLimitIncrement', { numberOfKeys: 1, lua: INCREMENT })
  const counting = redis as unknown as CountingRedis
  return class RedisCounterStore {
    incr (key: string, callback: Callback, timeWindow: number): void {
      counting.bffRateLimitIncrement(prefix + key, timeWindow, (error, result) => {
        if (error != null || result === undefined) callback(error ?? new Error('no answer from Redis'), null)
        else callback(null, { current: result[0], ttl: result[1] })
      })
    }

    /** Every limiter shares the store; their keys already say which limit they count. */
    child (): this {
      return this
    }
  }
}
