import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createApiServer } from './api-server.js'
import { createAuthServer } from './auth-server.js'
import { SimulatorState } from './state.js'
import type { Injection, RecordedRequest, SimulatorSettings, TokenKind, UpstreamKind } from './state.js'

export type { Injection, RecordedRequest, SimulatorSettings, TokenKind, UpstreamKind }

export interface SimulatorOptions extends Partial<SimulatorSettings> {
  host?: string
  authPort?: number
  apiPort?: number
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
  close: () => Promise<void>
}

/**
 * Starts the simulated authentication and Ejento API servers on their own ports
 * (random ones by default). It stands in for Ejento, not for any part of the BFF.
 */
export async function startSimulator (options: SimulatorOptions = {}): Promise<Simulator> {
  const { host = '127.0.0.1', authPort = 0, apiPort = 0, ...settings } = options
  const state = new SimulatorState(settings)
  const authServer = createAuthServer(state)
  const apiServer = createApiServer(state)
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
