import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { guideApiRoutes } from './api-server.js'
import { guideAuthRoutes } from './auth-server.js'
import { createUpstreamServer } from './server.js'
import { SimulatorState } from './state.js'
import type { Injection, LoginFlags, RecordedRequest, SentMail, SimulatorSettings, TokenKind, UpstreamKind } from './state.js'
import { v2ApiRoutes } from './v2/api-routes.js'
import { v2AuthRoutes } from './v2/auth-routes.js'

export type { Injection, LoginFlags, RecordedRequest, SentMail, SimulatorSettings, TokenKind, UpstreamKind }

export interface SimulatorOptions extends Partial<SimulatorSettings> {
  host?: string
  authPort?: number
  apiPort?: number
  /** Told of every e-mail the simulator "sends" (password-less codes and magic links). */
  onMail?: (mail: SentMail) => void
}

/** A running pair of simulated Ejento upstreams, with the controls tests and the demo need. */
export interface Simulator {
  authUrl: string
  apiUrl: string
  state: SimulatorState
  /** Every request both servers received, in order. */
  requests: RecordedRequest[]
  requestsTo: (upstream: UpstreamKind, pathPattern?: RegExp) => RecordedRequest[]
  counter: (name: string) => number
  configure: (settings: Partial<SimulatorSettings>) => void
  expireTokens: (kind: TokenKind | 'all') => void
  inject: (injection: Injection) => void
  /** v2: the newest e-mail (password-less code, magic link) sent to this address. */
  lastMail: (email: string) => SentMail | undefined
  close: () => Promise<void>
}

/**
 * Starts the simulated authentication and Ejento API servers on their own ports
 * (random ones by default). It stands in for Ejento, not for any part of the BFF.
 */
export async function startSimulator (options: SimulatorOptions = {}): Promise<Simulator> {
  const { host = '127.0.0.1', authPort = 0, apiPort = 0, onMail, ...settings } = options
  const state = new SimulatorState(settings)
  state.onMail = onMail
  // Both route tables are built; the `profile` setting picks one per request.
  const authServer = createUpstreamServer('auth', state, { guide: guideAuthRoutes(state), v2: v2AuthRoutes(state) }, { detail: 'Not Found' })
  const apiServer = createUpstreamServer('api', state, { guide: guideApiRoutes(state), v2: v2ApiRoutes(state) }, { success: false, message: 'Not found' })
  const authUrl = await listen(authServer, host, authPort)
  const apiUrl = await listen(apiServer, host, apiPort)
  return {
    authUrl,
    apiUrl,
    state,
    requests: state.requests,
    requestsTo: (upstream, pathPattern) => state.requests.filter((request) => request.upstream === upstream && (pathPattern === undefined || pathPattern.test(request.path))),
    counter: (name) => state.counter(name),
    configure: (next) => { state.settings = { ...state.settings, ...next } },
    expireTokens: (kind) => state.expireTokens(kind),
    inject: (injection) => { state.injections.push({ ...injection }) },
    lastMail: (email) => state.lastMail(email),
    close: async () => { await Promise.all([stop(authServer), stop(apiServer)]) }
  }
}

async function listen (server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const hostname = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${hostname}:${address.port}`
}

async function stop (server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}
