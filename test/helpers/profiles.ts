import { PATH_PROFILES } from '../../src/upstream/paths.js'
import type { PathProfile, PathProfileName } from '../../src/upstream/paths.js'
import type { SimulatorOptions } from '../../src/simulator/index.js'

/**
 * The two Ejento path profiles a contract test runs under: the API access guide's upstream, and
 * hosted Ejento's v2 upstream behind its API gateway (a subscription key on every call).
 * `describe.each(PROFILES)` runs one test body against both; `paths` names the upstream calls.
 */
export interface TestProfile {
  name: PathProfileName
  /** The BFF's variables for this profile (merged into the test's own). */
  env: Record<string, string>
  /** The simulator's options for this profile. */
  sim: SimulatorOptions
  paths: PathProfile
  /** The agent list on the API server, as the page fetches it through `/proxy/ejento` (a call no route names). */
  agentsPath: string
}

const SUBSCRIPTION_KEY = 'sim-subscription-key-0123456789'

export const GUIDE: TestProfile = { name: 'guide', env: {}, sim: { profile: 'guide' }, paths: PATH_PROFILES.guide, agentsPath: '/api/agents' }

export const V2: TestProfile = {
  name: 'v2',
  env: { EJENTO_PATH_PROFILE: 'v2', EJENTO_SUBSCRIPTION_KEY: SUBSCRIPTION_KEY },
  sim: { profile: 'v2', subscriptionKey: SUBSCRIPTION_KEY },
  paths: PATH_PROFILES.v2,
  agentsPath: '/api/v2/agents'
}

/** For `describe.each(PROFILES)('... on %s', ...)`: vitest prints the profile's name. */
export const PROFILES: ReadonlyArray<[string, TestProfile]> = [['guide', GUIDE], ['v2', V2]]

/** Hosted Ejento's (v2) answer: every one is this envelope. */
export function envelope<T> (data: T, message = 'OK'): { success: true, message: string, data: T } {
  return { success: true, message, data }
}

/** Both tokens as this profile's authentication server answers a log-in: the guide's flat object, v2's envelope. */
export function tokenAnswer (profile: TestProfile, pair: { access_token: string, ejento_access_token: string }): unknown {
  return profile.name === 'v2' ? envelope(pair, 'Login successful') : { ...pair, token_type: 'bearer' }
}

/** Matches exactly this upstream path, for `sim.requestsTo` and `sim.inject` (which see the path without its query). */
export function exactPath (path: string): RegExp {
  const pathname = path.split('?')[0] as string
  return new RegExp(`^${pathname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)
}

/** The thread an agent's JSON answer belongs to: `data.chat_thread_id` on the guide, `data.thread_id` on v2. */
export function answerThreadId (profile: TestProfile, body: { data?: Record<string, unknown> }): unknown {
  return body.data?.[profile.name === 'v2' ? 'thread_id' : 'chat_thread_id']
}

/** The headers a direct call to this profile's simulator needs besides the token (v2: the gateway's subscription key). */
export function gatewayHeaders (profile: TestProfile): Record<string, string> {
  const key = profile.env.EJENTO_SUBSCRIPTION_KEY
  return key === undefined ? {} : { 'ocp-apim-subscription-key': key }
}
