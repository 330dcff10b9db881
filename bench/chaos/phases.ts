import type { VirtualBrowser } from './browser.js'
import { sleep, waitFor } from './time.js'
import type { World } from './world.js'

export const PHASES = ['slow-refresh', 'redis-pause', 'redis-down', 'kill', 'logout-races'] as const
export type PhaseName = typeof PHASES[number]

/**
 * The one phase whose lost sessions are reported, not failed: a kill after the upstream rotated
 * a token loses the only copy of the new one. Every other phase (issue 16, items 1, 2 and 4,
 * and the quiet warm-up) must lose nothing.
 */
export const REPORTED_ONLY: PhaseName = 'kill'

export interface PhaseOptions {
  /** How long traffic runs under the slow refresh. */
  phaseSeconds: number
  /** The instances' REFRESH_TIMEOUT. */
  refreshTimeoutMs: number
  /** The simulator's refresh delay in the slow-refresh phase (longer than REFRESH_TIMEOUT). */
  slowRefreshMs: number
  /** How long Redis stays frozen, or down. */
  redisSeconds: number
  kills: number
  raceRounds: number
}

/**
 * The refresh delay while Redis is paused or down or an instance is killed, as a share of
 * REFRESH_TIMEOUT: wide enough to land the fault inside a refresh, short enough that without
 * the fault the refresh ends in time (even in a version that cut refreshes at REFRESH_TIMEOUT),
 * so that what is lost is the fault's.
 */
const FAULT_DELAY_SHARE = 0.6
/**
 * Until every session a kill struck has its verdict: a survivor waits for the dead holder's
 * refresh lock to lapse (REFRESH_LOCK_TTL: 5 s now, 15 s at b829ad0) and for its liveness key
 * (3 s). Measured at most 6 s now, 16 s at b829ad0 (BENCHMARKS.md).
 */
const AFTER_KILL_MS = 17_000
/** The clients reconnect within 2 s, kept tokens are retried at most 2 s apart, liveness keys are back within a second. */
const AFTER_REDIS_MS = 10_000
/** The refresh delay in the log-in/log-out races, likewise: a call in flight while the user logs out and in again. */
const RACE_DELAY_SHARE = 0.4

/**
 * Item 1: every refresh takes longer than REFRESH_TIMEOUT. Callers get 504 and try again; the
 * refresh runs on and its tokens are stored. Every session's Ejento token is expired at the
 * start, so each active session refreshes during the phase.
 */
export async function slowRefresh (world: World, options: PhaseOptions): Promise<void> {
  const before = world.sim.counter('refresh')
  world.sim.configure({ refreshDelayMs: options.slowRefreshMs })
  world.sim.expireTokens('ejento')
  await sleep(options.phaseSeconds * 1000)
  world.sim.configure({ refreshDelayMs: 0 })
  world.ledger.underFault(world.sim.counter('refresh') - before)
  // The last slow refreshes end and are stored; callers that got 504 come back.
  await sleep(options.slowRefreshMs + 2000)
}

/**
 * Item 2, the stall: Redis freezes (SIGSTOP) for longer than the old 5 s save retry while
 * refreshes are at the upstream, which has already rotated their tokens, so their answers
 * arrive with nowhere to store them. A frozen Redis keeps the commands sent to it and runs
 * them once it thaws, so this mostly tests the waiting (503s, refresh_pending), not the saving.
 */
export async function redisPause (world: World, options: PhaseOptions): Promise<void> {
  await duringRefreshes(world, options, 'paused (SIGSTOP)', async () => { world.redis.pause() }, async () => { world.redis.resume() })
}

/**
 * Item 2, the outage: Redis is killed (SIGKILL) under the same refreshes and started again
 * after as long, with its data (append-only file). Connections drop and every write fails at
 * once, so the fresh tokens must be kept and saved once Redis is back.
 */
export async function redisDown (world: World, options: PhaseOptions): Promise<void> {
  await duringRefreshes(world, options, 'down (SIGKILL, restarted after)', async () => { await world.redis.down() }, async () => { await world.redis.up() })
}

/** Starts a Redis fault shortly after refresh calls reached the upstream, ends it `redisSeconds` later, then lets the instances recover. */
async function duringRefreshes (world: World, options: PhaseOptions, what: string, begin: () => Promise<void>, end: () => Promise<void>): Promise<void> {
  const delayMs = Math.round(options.refreshTimeoutMs * FAULT_DELAY_SHARE)
  world.sim.configure({ refreshDelayMs: delayMs })
  world.sim.expireTokens('ejento')
  if (!await waitFor(() => world.refreshesInFlight().length > 0, 15_000)) world.ledger.note(`no refresh was in flight when Redis went ${what}`)
  // Let other sessions' refreshes join the first, which stays at the upstream a while longer.
  await sleep(delayMs / 3)
  const inFlight = world.refreshesInFlight().length
  await begin()
  world.ledger.underFault(inFlight)
  world.ledger.note(`Redis ${what} for ${options.redisSeconds} s with ${inFlight} refresh call(s) at the upstream`)
  try {
    await sleep(options.redisSeconds * 1000)
  } finally {
    await end()
    world.sim.configure({ refreshDelayMs: 0 })
  }
  await sleep(AFTER_REDIS_MS)
}

/**
 * Item 3: an instance is killed (SIGKILL) at a random moment of one of its refreshes, then
 * restarted. Sessions whose refresh it held after the upstream rotated their token can be
 * lost: the answer, the only copy of the new tokens, dies with the process. Reported, not judged.
 */
export async function killMidRefresh (world: World, options: PhaseOptions): Promise<void> {
  const delayMs = Math.round(options.refreshTimeoutMs * FAULT_DELAY_SHARE)
  world.sim.configure({ refreshDelayMs: delayMs })
  try {
    for (let kill = 0; kill < options.kills; kill++) {
      world.sim.expireTokens('ejento')
      const found = await waitFor(() => world.refreshesInFlight().some((request) => world.instanceOf(request)?.running === true), 15_000)
      const first = world.refreshesInFlight().find((request) => world.instanceOf(request)?.running === true)
      const victim = first === undefined ? undefined : world.instanceOf(first)
      if (!found || first === undefined || victim === undefined) {
        world.ledger.note(`kill ${kill + 1}: no refresh in flight to interrupt`)
        continue
      }
      await sleep(first.receivedAt + world.random() * delayMs - Date.now())
      const exposed = world.refreshesInFlight().filter((request) => world.instanceOf(request) === victim).length
      await victim.kill()
      world.ledger.underFault(exposed)
      world.ledger.note(`kill ${kill + 1}: instance ${victim.index} killed holding ${exposed} refresh call(s) at the upstream`)
      await victim.start()
      await sleep(AFTER_KILL_MS)
    }
  } finally {
    world.sim.configure({ refreshDelayMs: 0 })
  }
}

/**
 * Item 4, in rounds: (a) a user logs out everywhere from one device while calls of another
 * device are in flight (one a slow refresh), then both devices log in again at once: the new
 * sessions must work (a stale answer must not erase the new cookie) and no old one may open;
 * (b) two log-ins sent at once with one cookie, then a log-out with the cookie the browser
 * kept: no session of that browser may still open (the orphan check).
 */
export async function logoutRaces (world: World, options: PhaseOptions): Promise<void> {
  const delayMs = Math.round(options.refreshTimeoutMs * RACE_DELAY_SHARE)
  world.sim.configure({ refreshDelayMs: delayMs })
  try {
    for (let round = 0; round < options.raceRounds; round++) {
      await logoutEverywhereRace(world, round, delayMs)
      await doubleLogin(world, round)
    }
  } finally {
    world.sim.configure({ refreshDelayMs: 0 })
  }
}

async function logoutEverywhereRace (world: World, round: number, refreshDelayMs: number): Promise<void> {
  const { fleet } = world
  const phone = world.newBrowser(`phone${round}`)
  const laptop = world.newBrowser(`laptop${round}`, phone)
  if (!await world.logIn(phone, round) || !await world.logIn(laptop, round + 1)) return
  // The laptop's calls, in flight on three instances: a refresh (slow), a listing, a new thread.
  const inFlight = [
    laptop.send(fleet.at(round + 1), 'POST', '/auth/refresh'),
    laptop.send(fleet.at(round + 2), 'GET', '/api/users?skip=0&limit=5'),
    laptop.send(fleet.at(round), 'POST', '/api/agents/1/chat-threads', { json: {} })
  ]
  await sleep(world.random() * refreshDelayMs / 2)
  // Log-out everywhere ends the laptop's session too, from the moment it is asked for.
  laptop.endOnPurpose()
  const out = await phone.logout(fleet.at(round + 2), 'all')
  if (out.status !== 204) world.ledger.note(`log-out everywhere answered ${out.status}`)
  // Both devices log in again at once, while the laptop's older calls may still be answering.
  await Promise.all([world.logIn(phone, round), world.logIn(laptop, round + 1)])
  await Promise.all(inFlight)
  await ordinaryCalls(world, phone, round)
  await ordinaryCalls(world, laptop, round + 1)
  // Neither old session opens any more (a refresh saved after the log-out must not bring one back).
  await checkNoOrphans(world, [phone, laptop])
  await phone.logout(fleet.at(round))
  await laptop.logout(fleet.at(round + 1))
  await checkNoOrphans(world, [phone, laptop])
}

async function doubleLogin (world: World, round: number): Promise<void> {
  const { fleet } = world
  const browser = world.newBrowser(`tabs${round}`)
  if (!await world.logIn(browser, round)) return
  // A double click, or two tabs: two log-ins at once with the same cookie, on two instances.
  await Promise.all([browser.login(fleet.at(round)), browser.login(fleet.at(round + 1))])
  if (!browser.loggedIn && !await world.logIn(browser, round)) return
  await ordinaryCalls(world, browser, round + 2)
  await browser.logout(fleet.at(round + 2))
  await checkNoOrphans(world, [browser])
}

/** Two successful ordinary calls (transient answers retried); a lost session shows up as a loss in the books. */
async function ordinaryCalls (world: World, browser: VirtualBrowser, first: number): Promise<void> {
  let done = 0
  for (let attempt = 0; done < 2 && attempt < 20 && browser.loggedIn; attempt++) {
    const answer = await browser.send(world.fleet.at(first + attempt), 'GET', '/api/users?skip=0&limit=5')
    if (answer.status >= 200 && answer.status < 300) done++
    else await sleep(250)
  }
}

/**
 * Every session cookie these browsers were given, but the one each holds while logged in, must
 * no longer open a session. One that does is an orphan: its user cannot end it, and whoever
 * holds the cookie is still logged in.
 */
async function checkNoOrphans (world: World, browsers: VirtualBrowser[]): Promise<void> {
  for (const browser of browsers) {
    for (const cookie of browser.issued) {
      if (browser.loggedIn && cookie === browser.cookie) continue
      let usable: boolean | undefined
      for (let attempt = 0; usable === undefined && attempt < 10; attempt++) {
        usable = await browser.usable(world.fleet.at(attempt), cookie)
        if (usable === undefined) await sleep(250)
      }
      if (usable === true) {
        world.ledger.orphan()
        world.ledger.note(`${browser.name}: a session it was given still opens after its user ended it or replaced it`)
      }
      // Checked once: an orphan is counted once.
      browser.issued.delete(cookie)
    }
  }
}
