import { randomInt } from 'node:crypto'
import { PHASES } from './phases.js'
import type { PhaseName } from './phases.js'
import type { ChaosOptions } from './run-chaos.js'

type Env = Record<string, string | undefined>

/** The chaos run's parameters from CHAOS_* variables (every one optional; see README, "Chaos run"). */
export function chaosOptionsFromEnv (env: Env, server: string): ChaosOptions {
  const refreshTimeoutMs = integer(env, 'CHAOS_REFRESH_TIMEOUT_MS', 2000)
  return {
    server,
    instances: integer(env, 'CHAOS_INSTANCES', 3, 2),
    browsers: integer(env, 'CHAOS_BROWSERS', 6),
    phases: phases(env.CHAOS_PHASES),
    phaseSeconds: integer(env, 'CHAOS_SECONDS', 20),
    refreshTimeoutMs,
    slowRefreshMs: integer(env, 'CHAOS_SLOW_REFRESH_MS', refreshTimeoutMs + 1500),
    redisSeconds: integer(env, 'CHAOS_REDIS_SECONDS', 8),
    kills: integer(env, 'CHAOS_KILLS', 5, 0),
    raceRounds: integer(env, 'CHAOS_RACE_ROUNDS', 10, 0),
    // Long enough that no session's tokens run out while Redis is away (a refresh needs Redis).
    tokenTtlSeconds: integer(env, 'CHAOS_TOKEN_TTL', 30, 10),
    seed: seed(env)
  }
}

/** The kill-mid-refresh measurement's parameters. */
export function killMeasureOptionsFromEnv (env: Env, server: string): { server: string, rounds: number, refreshDelayMs: number, seed: number } {
  return {
    server,
    rounds: integer(env, 'CHAOS_KILL_ROUNDS', 100),
    refreshDelayMs: integer(env, 'CHAOS_KILL_WINDOW_MS', 1000),
    seed: seed(env)
  }
}

function seed (env: Env): number {
  return integer(env, 'CHAOS_SEED', randomInt(1, 2 ** 31), 0)
}

function integer (env: Env, name: string, fallback: number, min = 1): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number of at least ${min} (got "${raw}")`)
  return value
}

function phases (raw: string | undefined): PhaseName[] {
  if (raw === undefined || raw.trim() === '') return [...PHASES]
  return raw.split(',').map((name) => {
    const phase = name.trim() as PhaseName
    if (!PHASES.includes(phase)) throw new Error(`CHAOS_PHASES: unknown phase "${name.trim()}" (known: ${PHASES.join(', ')})`)
    return phase
  })
}
