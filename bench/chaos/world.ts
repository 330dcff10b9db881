import { randomBytes } from 'node:crypto'
import type { Agent } from 'undici'
import { startSimulator } from '../../src/simulator/index.js'
import type { RecordedRequest, Simulator } from '../../src/simulator/index.js'
import { VirtualBrowser, browserNetwork } from './browser.js'
import type { Credentials } from './browser.js'
import { Fleet } from './fleet.js'
import type { BffInstance } from './fleet.js'
import { Ledger } from './ledger.js'
import type { PhaseTally } from './ledger.js'
import { seededRandom } from './random.js'
import { startChaosRedis } from './redis-server.js'
import type { ChaosRedis } from './redis-server.js'
import { sleep } from './time.js'

const REFRESH_PATH = /\/refresh-access-token$/

export interface WorldOptions {
  /** The compiled server to run (`server.js`). */
  server: string
  instances: number
  /** Lifetime of both tokens in the simulator, seconds: short, so sessions refresh on their own. */
  tokenTtlSeconds: number
  /** REFRESH_TIMEOUT; unset: the server's default. */
  refreshTimeoutMs?: number
  seed: number
  /** Extra environment for every instance. */
  env?: Record<string, string>
}

/**
 * Everything a chaos run stands on: a strictly rotating Ejento simulator (in this process, so
 * its refresh delay can be turned), a redis-server of its own (so it can be paused), N compiled
 * BFF instances sharing both, the browsers' network, and the books.
 */
export class World {
  readonly sim: Simulator
  readonly redis: ChaosRedis
  readonly fleet: Fleet
  readonly ledger = new Ledger()
  readonly network: Agent
  readonly random: () => number
  #users = 0
  #stopped: Promise<void> | undefined

  private constructor (sim: Simulator, redis: ChaosRedis, fleet: Fleet, seed: number) {
    this.sim = sim
    this.redis = redis
    this.fleet = fleet
    this.network = browserNetwork()
    this.random = seededRandom(seed)
  }

  static async start (options: WorldOptions): Promise<World> {
    const ttl = options.tokenTtlSeconds
    const sim = await startSimulator({ strictRotation: true, authTokenTtl: ttl, ejentoTokenTtl: ttl, recordLimit: 5000 })
    let redis: ChaosRedis | undefined
    try {
      redis = await startChaosRedis()
      const fleet = await Fleet.start(options.server, options.instances, {
        EJENTO_AUTH_URL: sim.authUrl,
        EJENTO_API_URL: sim.apiUrl,
        SESSION_SECRET: randomBytes(32).toString('base64url'),
        COOKIE_SECURE: 'false',
        LOG_LEVEL: 'warn',
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: 'chaos:',
        ...(options.refreshTimeoutMs === undefined ? {} : { REFRESH_TIMEOUT: `${options.refreshTimeoutMs}ms` }),
        // Every browser logs in from 127.0.0.1, again after each lost session.
        AUTH_RATE_LIMIT_PER_IP: '1000000',
        AUTH_RATE_LIMIT_PER_ACCOUNT: '1000000',
        ...options.env
      })
      return new World(sim, redis, fleet, options.seed)
    } catch (error) {
      await redis?.stop()
      await sim.close()
      throw error
    }
  }

  /** A browser of a brand-new user (or of `sameUserAs`'s user: another device). */
  newBrowser (name: string, sameUserAs?: VirtualBrowser): VirtualBrowser {
    let credentials: Credentials
    if (sameUserAs !== undefined) {
      credentials = sameUserAs.credentials
    } else {
      credentials = { email: `chaos-${++this.#users}@example.com`, password: 'chaos-password' }
      this.sim.state.addUser(credentials)
    }
    return new VirtualBrowser(name, credentials, this.ledger, this.network)
  }

  /** Refresh calls the simulator holds right now (it has rotated the token and not answered yet). */
  refreshesInFlight (): RecordedRequest[] {
    return this.sim.requests.slice(-1000).filter((request) => REFRESH_PATH.test(request.path) && !request.completed && !request.aborted)
  }

  /** The instance that made a call upstream, from the request id its browser gave (`c<instance>-...`). */
  instanceOf (request: RecordedRequest): BffInstance | undefined {
    const match = /^c(\d+)-/.exec(String(request.headers['x-request-id'] ?? ''))
    return match?.[1] === undefined ? undefined : this.fleet.at(Number(match[1]))
  }

  /** Starts a phase's books. */
  begin (name: string): { end: () => PhaseTally } {
    this.ledger.begin(name)
    const refreshes = this.sim.counter('refresh')
    const refused = this.sim.counter('refresh_refused')
    return {
      end: () => this.ledger.end({
        refreshes: this.sim.counter('refresh') - refreshes,
        refusedRefreshes: this.sim.counter('refresh_refused') - refused
      })
    }
  }

  /** Logs a browser in, on any instance that answers, retrying what is transient; false after `withinMs`. */
  async logIn (browser: VirtualBrowser, first: number, withinMs = 20_000): Promise<boolean> {
    const deadline = Date.now() + withinMs
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (await browser.login(this.fleet.at(first + attempt))) return true
      await sleep(250)
    }
    this.ledger.note(`${browser.name} could not log in within ${withinMs} ms`)
    return false
  }

  /** Stops every process and server of the run (once, however often it is called). */
  async stop (): Promise<void> {
    this.#stopped ??= (async () => {
      await this.fleet.stop()
      await this.network.close()
      await this.redis.stop()
      await this.sim.close()
    })()
    await this.#stopped
  }
}
