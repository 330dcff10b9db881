import { startSimulator } from './index.js'
import type { SimulatorOptions } from './index.js'
import { DEMO_USERS } from './state.js'

/**
 * Runs the Ejento simulator on its own (`npm run simulator`, docker compose, manual trials),
 * configured by these variables:
 *   SIM_HOST              where both servers listen (default 127.0.0.1; 0.0.0.0 in a container)
 *   SIM_AUTH_PORT         the authentication server's port (default 8001; 0: any free port)
 *   SIM_API_PORT          the Ejento API server's port (default 8002; 0: any free port)
 *   SIM_TOKEN_TTL         lifetime of both tokens, in seconds (default 172800, two days)
 *   SIM_PROFILE           guide (the API access guide's paths, the default) or v2 (hosted Ejento's API)
 *   SIM_SUBSCRIPTION_KEY  when set, every call must carry it as Ocp-Apim-Subscription-Key (hosted Ejento's gateway)
 * It prints where it listens, the demo accounts and the BFF variables that point at it.
 */
const env = process.env

function fail (message: string): never {
  console.error(`ejento simulator: ${message}`)
  process.exit(1)
}

/** An integer variable from `min` to `max`; undefined when unset. */
function integer (name: string, min: number, max: number): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  const value = Number(raw.trim())
  if (!/^\d+$/.test(raw.trim()) || value < min || value > max) fail(`${name} must be an integer from ${min} to ${max} (got "${raw}")`)
  return value
}

const profile = env.SIM_PROFILE ?? 'guide'
if (profile !== 'guide' && profile !== 'v2') fail(`SIM_PROFILE must be guide or v2 (got "${profile}")`)
const options: SimulatorOptions = {
  host: env.SIM_HOST ?? '127.0.0.1',
  authPort: integer('SIM_AUTH_PORT', 0, 65_535) ?? 8001,
  apiPort: integer('SIM_API_PORT', 0, 65_535) ?? 8002,
  profile,
  // Nobody receives the simulator's e-mail: a password-less code is read here.
  onMail: (mail) => { console.log(`Simulated e-mail to ${mail.to}: code ${mail.code}${mail.magicLink === undefined ? '' : `, magic link ${mail.magicLink}`}`) }
}
const tokenTtl = integer('SIM_TOKEN_TTL', 1, 365 * 86_400)
if (tokenTtl !== undefined) options.authTokenTtl = options.ejentoTokenTtl = tokenTtl
const keyed = env.SIM_SUBSCRIPTION_KEY !== undefined && env.SIM_SUBSCRIPTION_KEY !== ''
if (keyed) options.subscriptionKey = env.SIM_SUBSCRIPTION_KEY

const simulator = await startSimulator(options)
const accounts = DEMO_USERS.map((user) => `  ${user.is_superuser ? 'admin' : 'user '}  ${user.email} / ${user.password}  (${user.full_name})`)
// The key is the operator's own choice: named, not printed.
const bffVariables = [
  `EJENTO_AUTH_URL=${simulator.authUrl}`,
  `EJENTO_API_URL=${simulator.apiUrl}`,
  ...(profile === 'v2' ? ['EJENTO_PATH_PROFILE=v2'] : []),
  ...(keyed ? ['EJENTO_SUBSCRIPTION_KEY=<the value of SIM_SUBSCRIPTION_KEY>'] : []),
  // Its own page over plain http: a Secure cookie would be refused (400 insecure_transport).
  'COOKIE_SECURE=false',
  'SESSION_SECRET=<32 characters or more>'
]
console.log(`Ejento simulator (${profile} API): authentication server ${simulator.authUrl}, Ejento API server ${simulator.apiUrl}
Demo accounts (log in through the BFF with these):
${accounts.join('\n')}
Point the BFF at it with: ${bffVariables.join(' ')}`)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { simulator.close().then(() => process.exit(0), () => process.exit(1)) })
}
