import type { Dispatcher } from 'undici'
import type { VirtualBrowser } from './browser.js'
import { sleep } from './time.js'
import type { World } from './world.js'

/** The ordinary calls a browser makes: a new chat thread (Ejento token), the user list (auth-app token), who am I. */
interface Call { method: Dispatcher.HttpMethod, path: string, json?: unknown }
const CALLS: Call[] = [
  { method: 'POST', path: '/api/agents/1/chat-threads', json: {} },
  { method: 'GET', path: '/api/users?skip=0&limit=5' },
  { method: 'GET', path: '/auth/session' }
]

const THINK_MS = 100
const BACK_OFF_MS = 250

/**
 * Background traffic: each browser logs in, then loops over the instances round-robin making
 * ordinary calls, one at a time, until stopped. A lost session is counted by the browser (in
 * whatever phase is running) and the browser logs in again.
 */
export class Traffic {
  readonly #world: World
  readonly #browsers: VirtualBrowser[]
  #running = false
  #loops: Array<Promise<void>> = []

  constructor (world: World, count: number) {
    this.#world = world
    this.#browsers = Array.from({ length: count }, (_unused, index) => world.newBrowser(`b${index}`))
  }

  start (): void {
    this.#running = true
    this.#loops = this.#browsers.map(async (browser, index) => { await this.#loop(browser, index) })
  }

  async stop (): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
  }

  async #loop (browser: VirtualBrowser, offset: number): Promise<void> {
    const { fleet, random } = this.#world
    for (let turn = offset; this.#running; turn++) {
      const target = fleet.at(turn)
      if (!browser.loggedIn) {
        if (!await browser.login(target)) await sleep(BACK_OFF_MS)
        continue
      }
      const call = CALLS[Math.floor(random() * CALLS.length)] as Call
      const answer = await browser.send(target, call.method, call.path, call.json === undefined ? {} : { json: call.json })
      const transient = answer.status === 0 || answer.status >= 502
      await sleep(transient ? BACK_OFF_MS : THINK_MS * (0.5 + random()))
    }
  }
}
