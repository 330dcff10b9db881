import { startSimulator } from './index.js'
import type { SimulatorOptions } from './index.js'

/**
 * Runs the Ejento simulator on its own (docker compose, manual trials).
 * SIM_HOST, SIM_AUTH_PORT, SIM_API_PORT, SIM_TOKEN_TTL (seconds), SIM_SUBSCRIPTION_KEY.
 */
const env = process.env
const options: SimulatorOptions = {
  host: env.SIM_HOST ?? '127.0.0.1',
  authPort: Number(env.SIM_AUTH_PORT ?? 8001),
  apiPort: Number(env.SIM_API_PORT ?? 8002)
}
if (env.SIM_TOKEN_TTL !== undefined) options.authTokenTtl = options.ejentoTokenTtl = Number(env.SIM_TOKEN_TTL)
if (env.SIM_SUBSCRIPTION_KEY !== undefined) options.subscriptionKey = env.SIM_SUBSCRIPTION_KEY

const simulator = await startSimulator(options)
console.log(`Ejento simulator: authentication server ${simulator.authUrl}, Ejento API server ${simulator.apiUrl}`)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { simulator.close().then(() => process.exit(0), () => process.exit(1)) })
}
