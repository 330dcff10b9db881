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
}

const SUBSCRIPTION_KEY = 'sim-subscription-key-0123456789'

export const GUIDE: TestProfile = { name: 'guide', env: {}, sim: { profile: 'guide' }, paths: PATH_PROFILES.guide }

export const V2: TestProfile = {
  name: 'v2',
  env: { EJENTO_PATH_PROFILE: 'v2', EJENTO_SUBSCRIPTION_KEY: SUBSCRIPTION_KEY },
  sim: { profile: 'v2', subscriptionKey: SUBSCRIPTION_KEY },
  paths: PATH_PROFILES.v2
}

/** For `describe.each(PROFILES)('... on %s', ...)`: vitest prints the profile's name. */
export const PROFILES: ReadonlyArray<[string, TestProfile]> = [['guide', GUIDE], ['v2', V2]]
