import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'

/**
 * The one Redis client of the process (sessions, rate-limit counters, refresh locks).
 * Commands fail fast while Redis is away (no offline queue), so requests answer 503
 * `store_unavailable` at once instead of hanging; the client keeps reconnecting by itself.
 * Each outage is logged once when it starts and once when it ends.
 */
export function createRedisClient (url: string, log: FastifyBaseLogger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    connectTimeout: 5000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000)
  })
  let healthy: boolean | undefined
  redis.on('ready', () => {
    if (healthy !== true) log.info({ redis: redactedUrl(url) }, 'Redis connection ready')
    healthy = true
  })
  redis.on('error', (error: Error & { code?: string }) => {
    if (healthy !== false) log.error({ redis: redactedUrl(url), code: error.code, message: error.message }, 'Redis is unreachable; retrying in the background (requests needing a session answer 503 until it is back)')
    healthy = false
  })
  return redis
}

/**
 * The URL as logs show it: scheme, host, port and database. Credentials go wherever ioredis
 * reads them (`redis://:pw@host`, `redis://user:pw@host`, `?password=pw`), and a lone
 * `redis://pw@host` is a password written as a user name, so any user part and every query
 * value are censored.
 */
export function redactedUrl (url: string): string {
  try {
    const parsed = new URL(url)
    const credentials = parsed.username !== '' || parsed.password !== '' ? '***@' : ''
    const query = [...parsed.searchParams.keys()].map((name) => `${encodeURIComponent(name)}=***`).join('&')
    return `${parsed.protocol}//${credentials}${parsed.host}${parsed.pathname}${query === '' ? '' : `?${query}`}`
  } catch {
    return 'redis://(unparseable URL)'
  }
}

/** Quits politely when connected, otherwise just stops reconnecting. */
export async function closeRedis (redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    await redis.quit().catch(() => { redis.disconnect() })
  } else {
    redis.disconnect()
  }
}
