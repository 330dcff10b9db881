import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { Cluster, Redis } from 'ioredis'
import { HttpProblem, problems } from '../errors.js'
import { redisCounterStore } from '../rate-limit/redis-counter-store.js'
import { deriveKey, keyedName } from '../secret-keys.js'

export interface AuthRateLimitOptions {
  perIp: number
  perAccount: number
  windowMs: number
  /** The SESSION_SECRET entries: the first keys the account counters. */
  secrets: readonly string[]
  /** When set, counters live in Redis under `redisPrefix`, shared by every instance. */
  redis?: Redis | Cluster
  redisPrefix?: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** A preHandler that limits attempts per client address and per account (the email `accountOf` reads). */
    authRateLimit: (accountOf: (request: FastifyRequest) => string | undefined) => preHandlerAsyncHookHandler
  }
}

/**
 * Log-in and sign-up are the doors a password guesser knocks on: each attempt counts once
 * against the client address and once against the account, whichever runs out first answers
 * 429 with `Retry-After`. Accounts are keyed by an HMAC of the email under a key derived
 * from the first SESSION_SECRET, so the counter store holds no email and no hash that a
 * reader of Redis could test candidate emails against. A rotation that puts another secret
 * first renames the counters: that only starts them again from zero.
 */
export default fp(async function authRateLimit (app: FastifyInstance, options: AuthRateLimitOptions) {
  const [secret] = options.secrets
  if (secret === undefined) throw new Error('auth-rate-limit needs a secret')
  const accountNameKey = deriveKey(secret, 'rate-limit/account/hmac-sha256/v1')
  await app.register(rateLimit, {
    global: false,
    ...(options.redis === undefined ? {} : { store: redisCounterStore(options.redis, options.redisPrefix ?? '') as never })
  })
  const byAddress = app.createRateLimit({ max: options.perIp, timeWindow: options.windowMs, keyGenerator: (request) => `ip:${request.ip}` })
  const byAccount = app.createRateLimit({ max: options.perAccount, timeWindow: options.windowMs, keyGenerator: (request) => `account:${accountKey(request)}` })
  const accountReaders = new WeakMap<FastifyRequest, string>()
  const accountKey = (request: FastifyRequest): string => accountReaders.get(request) ?? ''

  async function check (limiter: typeof byAddress, request: FastifyRequest): Promise<void> {
    let result: Awaited<ReturnType<typeof byAddress>>
    try {
      result = await limiter(request)
    } catch (error) {
      throw problems.storeUnavailable(error)
    }
    if (!result.isAllowed && result.isExceeded) {
      throw new HttpProblem(429, 'rate_limited', `Too many attempts. Retry in ${result.ttlInSeconds} s.`, {
        headers: { 'retry-after': String(Math.max(1, result.ttlInSeconds)) }
      })
    }
  }

  app.decorate('authRateLimit', (accountOf: (request: FastifyRequest) => string | undefined) => {
    return async function limitAuthAttempts (request: FastifyRequest) {
      await check(byAddress, request)
      const account = accountOf(request)?.trim().toLowerCase()
      if (account === undefined || account === '') return
      accountReaders.set(request, keyedName(accountNameKey, account))
      await check(byAccount, request)
    }
  })
}, { name: 'auth-rate-limit' })
