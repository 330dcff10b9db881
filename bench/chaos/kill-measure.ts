import type { VirtualBrowser } from './browser.js'
import { sleep } from './time.js'
import { World } from './world.js'

/** Where in the refresh the SIGKILL landed, as the simulator saw it. */
export type Landing =
  /** The refresh call had not reached Ejento: the old token still works. */
  | 'before_upstream'
  /** Ejento had rotated the token and was still holding its answer (the refresh delay). */
  | 'at_upstream'
  /** Ejento had answered; the new tokens were in the instance, stored or not. */
  | 'answered'

export interface KillRound {
  killAfterMs: number
  landing: Landing
  /** kept: the survivor refreshed the session; lost: it answered 401; undecided: neither within the bound. */
  outcome: 'kept' | 'lost' | 'undecided'
  /** From the kill to the survivor's verdict. */
  survivorWaitMs: number
}

export interface KillMeasurement {
  rounds: KillRound[]
  lost: number
  kept: number
  undecided: number
  /** Rounds and losses by where the kill landed. */
  byLanding: Record<Landing, { rounds: number, lost: number }>
  /** How long a refresh through the refreshing instance takes unharmed (the span kill moments are drawn from). */
  refreshMs: number
  survivorWaitMs: { keptMedian: number, lostMedian: number, max: number }
  /** Log lines of the instances: takeovers and sessions reported lost by a survivor (current code only). */
  logs: { takeovers: number, reportedLost: number }
}

export interface KillMeasureOptions {
  server: string
  rounds: number
  /** The simulator's refresh delay: the window in which Ejento has rotated the token and not answered. */
  refreshDelayMs: number
  seed: number
  /** Told of each round (progress). */
  onRound?: (round: number, result: KillRound) => void
}

/** The survivor asks this long at most before a round is called undecided. */
const VERDICT_WITHIN_MS = 60_000

/**
 * The kill-mid-refresh figure: `rounds` times, one session is refreshed (POST /auth/refresh)
 * through instance 0, which is killed (SIGKILL) after a random delay drawn uniformly from the
 * time such a refresh takes unharmed; the session is then refreshed through instance 1 until
 * that answers 204 (kept) or 401 (lost). Both instances run each version's defaults (only the
 * upstreams, Redis and the log-in rate limits are set), so a before/after pair compares what
 * each version ships.
 */
export async function measureKills (options: KillMeasureOptions): Promise<KillMeasurement> {
  const world = await World.start({ server: options.server, instances: 2, tokenTtlSeconds: 86_400, seed: options.seed })
  try {
    const refresher = world.fleet.at(0)
    const survivor = world.fleet.at(1)
    world.ledger.begin('kill-measure')
    world.sim.configure({ refreshDelayMs: options.refreshDelayMs })
    const browser = world.newBrowser('k')
    if (!await world.logIn(browser, 1)) throw new Error('the measurement could not log in')
    const refreshMs = await unharmedRefreshMs(browser, world)
    const rounds: KillRound[] = []
    for (let round = 0; round < options.rounds; round++) {
      if (!browser.loggedIn && !await world.logIn(browser, 1)) throw new Error('the measurement could not log in again')
      const sentAt = Date.now()
      const refresh = browser.send(refresher, 'POST', '/auth/refresh')
      const killAfterMs = Math.round(world.random() * refreshMs)
      await sleep(sentAt + killAfterMs - Date.now())
      const landing = landingOf(world, sentAt)
      const killedAt = Date.now()
      await refresher.kill()
      await refresh
      const restarted = refresher.start()
      const verdict = await survivorVerdict(browser, world, survivor.index)
      await restarted
      const result: KillRound = { killAfterMs, landing, outcome: verdict.outcome, survivorWaitMs: verdict.at - killedAt }
      rounds.push(result)
      options.onRound?.(round, result)
    }
    return summarize(rounds, refreshMs, {
      takeovers: world.fleet.count('refresh:takeover'),
      reportedLost: world.fleet.count('refresh:lost')
    })
  } finally {
    await world.stop()
  }
}

/** The median of three refreshes through instance 0 with nothing killed. */
async function unharmedRefreshMs (browser: VirtualBrowser, world: World): Promise<number> {
  const times: number[] = []
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = Date.now()
    const answer = await browser.send(world.fleet.at(0), 'POST', '/auth/refresh')
    if (answer.status !== 204 && answer.status !== 200) throw new Error(`an unharmed refresh answered ${answer.status}`)
    times.push(Date.now() - started)
  }
  return median(times)
}

function landingOf (world: World, sentAt: number): Landing {
  const call = world.sim.requests.slice(-50).findLast((request) =>
    request.path.endsWith('/refresh-access-token') && request.receivedAt >= sentAt && String(request.headers['x-request-id']).startsWith('c0-'))
  if (call === undefined) return 'before_upstream'
  return call.completed ? 'answered' : 'at_upstream'
}

/** Refreshes through the survivor until it says 204 (kept) or 401 (lost); 502/503/504 and resets are retried. */
async function survivorVerdict (browser: VirtualBrowser, world: World, survivor: number): Promise<{ outcome: KillRound['outcome'], at: number }> {
  const deadline = Date.now() + VERDICT_WITHIN_MS
  while (Date.now() < deadline) {
    const answer = await browser.send(world.fleet.at(survivor), 'POST', '/auth/refresh')
    if (answer.status === 204 || answer.status === 200) return { outcome: 'kept', at: Date.now() }
    if (answer.status === 401) return { outcome: 'lost', at: Date.now() }
    await sleep(200)
  }
  return { outcome: 'undecided', at: Date.now() }
}

function summarize (rounds: KillRound[], refreshMs: number, logs: KillMeasurement['logs']): KillMeasurement {
  const byLanding: KillMeasurement['byLanding'] = {
    before_upstream: { rounds: 0, lost: 0 },
    at_upstream: { rounds: 0, lost: 0 },
    answered: { rounds: 0, lost: 0 }
  }
  for (const round of rounds) {
    byLanding[round.landing].rounds++
    if (round.outcome === 'lost') byLanding[round.landing].lost++
  }
  const waits = (outcome: KillRound['outcome']): number[] => rounds.filter((round) => round.outcome === outcome).map((round) => round.survivorWaitMs)
  return {
    rounds,
    lost: waits('lost').length,
    kept: waits('kept').length,
    undecided: waits('undecided').length,
    byLanding,
    refreshMs,
    survivorWaitMs: { keptMedian: median(waits('kept')), lostMedian: median(waits('lost')), max: Math.max(0, ...rounds.map((round) => round.survivorWaitMs)) },
    logs
  }
}

function median (values: number[]): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}
