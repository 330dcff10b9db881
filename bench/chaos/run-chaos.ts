import type { Loss, PhaseTally } from './ledger.js'
import { REPORTED_ONLY, killMidRefresh, logoutRaces, redisDown, redisPause, slowRefresh } from './phases.js'
import type { PhaseName, PhaseOptions } from './phases.js'
import { Traffic } from './traffic.js'
import { World } from './world.js'

export interface ChaosOptions extends PhaseOptions {
  /** The compiled server to run (`server.js`). */
  server: string
  instances: number
  /** Background browsers (distinct users) making ordinary calls throughout. */
  browsers: number
  phases: PhaseName[]
  tokenTtlSeconds: number
  seed: number
  /** Told when a phase starts (progress). */
  onPhase?: (name: PhaseName) => void
  /** Given the run's teardown as well (a test's cleanup), so that a run cut short leaves nothing running. */
  onCleanup?: (stop: () => Promise<void>) => void
}

export interface ChaosReport {
  seed: number
  phases: PhaseTally[]
  losses: Loss[]
  /** Phases that lost sessions or left orphans (every phase but the kill phase must not). */
  failed: string[]
  /** Log lines the instances wrote, by their `refresh` outcome or level. */
  logs: Record<string, number>
}

const RUNS: Record<PhaseName, (world: World, options: PhaseOptions) => Promise<void>> = {
  'slow-refresh': slowRefresh,
  'redis-pause': redisPause,
  'redis-down': redisDown,
  kill: killMidRefresh,
  'logout-races': logoutRaces
}

/** A quiet start: every browser logged in and calling before the first fault. */
const WARM_UP_MS = 2000

/**
 * The chaos run: a fleet of compiled instances on one Redis and one strictly rotating
 * simulator, background browsers calling throughout, and each fault in a phase of its own so
 * that a lost session is charged to the fault that caused it.
 */
export async function runChaos (options: ChaosOptions): Promise<ChaosReport> {
  const world = await World.start(options)
  options.onCleanup?.(async () => { await world.stop() })
  const traffic = new Traffic(world, options.browsers)
  try {
    const warmUp = world.begin('warm-up')
    traffic.start()
    await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS))
    warmUp.end()
    for (const name of options.phases) {
      options.onPhase?.(name)
      const phase = world.begin(name)
      await RUNS[name](world, options)
      phase.end()
    }
  } finally {
    await traffic.stop()
    await world.stop()
  }
  const { phases, losses } = world.ledger
  const failed = phases.filter((phase) => phase.name !== REPORTED_ONLY && (phase.lost > 0 || phase.orphans > 0)).map((phase) => phase.name)
  const logs: Record<string, number> = {}
  for (const instance of world.fleet.instances) for (const [key, count] of instance.logCounts) logs[key] = (logs[key] ?? 0) + count
  return { seed: options.seed, phases, losses, failed, logs }
}
