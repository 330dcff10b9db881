import { spawnServer, waitFor } from './processes.js'
import type { ServerProcess } from './processes.js'
import { DEMO } from './app.js'
import type { CleanupScope } from './app.js'

export const REAL_SECRET = 'real-socket-test-session-secret-0123456789'

/** The compiled server listening on a real socket at `base`. */
export interface RealServer extends ServerProcess {
  base: string
}

/** Starts `dist/server.js` against the given upstreams on a free port, and waits until it listens (stopped after the test, or as `cleanup` says). */
export async function startRealServer (upstreams: { authUrl: string, apiUrl: string }, env: Record<string, string> = {}, cleanup?: CleanupScope): Promise<RealServer> {
  const server = await spawnServer({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    EJENTO_AUTH_URL: upstreams.authUrl,
    EJENTO_API_URL: upstreams.apiUrl,
    SESSION_SECRET: REAL_SECRET,
    COOKIE_SECURE: 'false',
    ...env
  }, cleanup)
  const base = await server.listening()
  // With Redis, listening comes before the connection: the first request could get 503.
  if (env.REDIS_URL !== undefined) await waitFor(async () => await fetch(`${base}/readyz`).then((answer) => answer.status === 200, () => false), 15_000, 100)
  return { ...server, base }
}

/** Logs in over the socket; answers the `name=value` cookie pair to send next. */
export async function realLogin (base: string, credentials = DEMO): Promise<string> {
  const response = await fetch(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(credentials)
  })
  if (response.status !== 200) throw new Error(`log-in failed: ${response.status} ${await response.text()}`)
  const cookie = response.headers.getSetCookie().map((line) => line.split(';')[0] as string).findLast((pair) => !pair.endsWith('='))
  if (cookie === undefined) throw new Error('log-in set no session cookie')
  return cookie
}

/** True while the server answers `GET /healthz` with 200. */
export async function alive (server: RealServer): Promise<boolean> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return false
  try {
    return (await fetch(`${server.base}/healthz`)).status === 200
  } catch {
    return false
  }
}
