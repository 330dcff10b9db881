import { startSimulator } from './index.js'
import type { SimulatorOptions } from './index.js'

/**
 * Runs the Ejento simulator on its own (docker compose, manual trials).
 * SIM_HOST, SIM_AUTH_PORT, SIM_API_PORT, SIM_TOKEN_TTL (seconds), SIM_SUBSCRIPTION_KEY,
 * SIM_PROFILE (`guide`, the default, or `v2`: hosted Ejento's API).
 */
const env = process.env
const profile = env.SIM_PROFILE ?? 'guide'
if (profile !== 'guide' && profile !== 'v2') {
  console.error(`SIM_PROFILE must be guide or v2, not ${profile}`)
  process.exit(1)
}
const options: SimulatorOptions = {
  host: env.SIM_HOST ?? '127.0.0.1',
  authPort: Number(env.SIM_AUTH_PORT ?? 8001),
  apiPort: Number(env.SIM_API_PORT ?? 8002),
  profile,
  // Nobody receives the simulator's e-mail: a password-less code is read here.
  onMail: (mail) => { console.log(`Simulated e-mail to ${mail.to}: code ${mail.code}${mail.magicLink === undefined ? '' : `, magic link ${mail.magicLink}`}`) }
}
if (env.SIM_TOKEN_TTL !== undefined) options.authTokenTtl = options.ejentoTokenTtl = Number(env.SIM_TOKEN_TTL)
if (env.SIM_SUBSCRIPTION_KEY !== undefined) options.subscriptionKey = env.SIM_SUBSCRIPTION_KEY

const simulator = await startSimulator(options)
console.log(`Ejento simulator (${profile} API): authentication server ${simulator.authUrl}, Ejento API server ${simulator.apiUrl}`)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { simulator.close().then(() => process.exit(0), () => process.exit(1)) })
}
