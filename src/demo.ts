import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startSimulator } from './simulator/index.js'
import { configFromEnvironment, start } from './start.js'

/**
 * Demo mode: the built-in Ejento simulator plus the BFF, with embedded defaults, so that
 * `npm run demo` works on a fresh machine with no variable set. Tokens live 10 minutes
 * here, so refreshes happen while you try it. `EJENTO_PATH_PROFILE=v2` plays hosted Ejento's
 * API instead, behind a gateway that wants a subscription key on every call.
 */
const config = configFromEnvironment({ demo: true })
// The example browser app (web/ beside src/ and dist/), unless STATIC_DIR names another folder.
const webDir = fileURLToPath(new URL('../web', import.meta.url))
if (config.staticDir === undefined && existsSync(webDir)) config.staticDir = webDir
const profile = config.upstreams.pathProfile
// A made-up key, shared by the simulator and the BFF (unless EJENTO_SUBSCRIPTION_KEY names one).
if (profile === 'v2') config.upstreams.subscriptionKey ??= 'demo-subscription-key'
const simulator = await startSimulator({
  profile,
  authTokenTtl: 600,
  ejentoTokenTtl: 600,
  streamIntervalMs: 60,
  ...(profile === 'v2' ? { subscriptionKey: config.upstreams.subscriptionKey } : {}),
  // Nobody receives the simulator's e-mail: password-less codes are shown here.
  onMail: (mail) => { console.log(`Simulated e-mail to ${mail.to}: log-in code ${mail.code}${mail.magicLink === undefined ? '' : `, magic link ${mail.magicLink}`}`) }
})
config.upstreams.authUrl = new URL(simulator.authUrl)
config.upstreams.apiUrl = new URL(simulator.apiUrl)
// Magic links come back to the demo's own address (known before listening unless PORT=0: then codes only).
if (config.publicUrl === undefined && config.port !== 0) {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  config.publicUrl = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`
}
const app = await start(config, { onClose: simulator.close })

const address = app.server.address()
const listening = typeof address === 'object' && address !== null ? address : undefined
const host = listening === undefined || listening.address === '0.0.0.0' || listening.address === '::' ? '127.0.0.1' : listening.address
const base = `http://${host.includes(':') ? `[${host}]` : host}:${listening?.port ?? config.port}`
const page = config.staticDir === undefined ? '' : `Open ${base}/ in a browser: the example chat page (from ${config.staticDir}).\n\n`
console.log(`
Ejento BFF demo is running at ${base}
  path profile: ${profile === 'v2' ? "v2 (hosted Ejento's API, with a subscription key)" : "guide (the API access guide's paths)"}
  simulated authentication server: ${simulator.authUrl}
  simulated Ejento API server:     ${simulator.apiUrl}
  demo user: demo@example.com / demo-password    admin: admin@example.com / admin-password

${page}Try it with curl (the cookie jar jar.txt holds only the opaque session id):
  curl -s -c jar.txt -H 'content-type: application/json' -d '{"email":"demo@example.com","password":"demo-password"}' ${base}/auth/login
  curl -s -b jar.txt ${base}/auth/session
  curl -s -b jar.txt -X POST ${base}/api/agents/1/chat-threads
  curl -sN -b jar.txt -H 'accept: text/event-stream' -H 'content-type: application/json' -d '{"user_query":"What is Ejento?","chat_thread_id":1}' ${base}/api/agents/1/responses
  curl -s -b jar.txt '${base}/api/users?skip=0&limit=10'
  curl -s -b jar.txt -c jar.txt -X POST ${base}/auth/logout -o /dev/null -w '%{http_code}\\n'
`)
