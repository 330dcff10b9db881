import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { afterAll, afterEach } from 'vitest'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config/index.js'
import type { Config } from '../../src/config/index.js'
import type { SessionStore } from '../../src/session/store.js'
import { startSimulator } from '../../src/simulator/index.js'
import type { RecordedRequest, Simulator, SimulatorOptions } from '../../src/simulator/index.js'
import { checkAnswersAgainstDocument } from './contract.js'
import type { TestProfile } from './profiles.js'

export const DEMO = { email: 'demo@example.com', password: 'demo-password' }
export const ADMIN = { email: 'admin@example.com', password: 'admin-password' }

export interface TestContext {
  app: FastifyInstance
  sim: Simulator
  config: Config
  /** Every log line the app wrote, as text. */
  logs: string[]
}

const cleanups: Array<() => Promise<void>> = []

/** Closes everything the test started, even when it failed. */
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

export function onCleanup (cleanup: () => Promise<void>): void {
  cleanups.push(cleanup)
}

const fileCleanups: Array<() => Promise<void>> = []

/** Closes what a whole file shares (one server for many cases, started in `beforeAll`) after its last test. */
afterAll(async () => {
  while (fileCleanups.length > 0) await fileCleanups.pop()?.()
})

export function onFileCleanup (cleanup: () => Promise<void>): void {
  fileCleanups.push(cleanup)
}

/** When something a test starts is closed: after the test (the default), or after the file. */
export type CleanupScope = (cleanup: () => Promise<void>) => void

/**
 * A fresh simulator and a fresh app (built, not listening) wired to it; with `profile`, both
 * speak that Ejento path profile (the test's own `env` and `sim` options still win).
 */
export async function setup (options: { env?: Record<string, string>, sim?: SimulatorOptions, store?: SessionStore, profile?: TestProfile } = {}): Promise<TestContext> {
  const sim = await startSimulator({ ...options.profile?.sim, ...options.sim })
  onCleanup(sim.close)
  const config = testConfig(sim, { ...options.profile?.env, ...options.env })
  const logs: string[] = []
  const app = await buildApp({ config, logStream: { write: (line: string) => { logs.push(line) } }, ...(options.store === undefined ? {} : { store: options.store }) })
  onCleanup(async () => { await app.close() })
  // Every answer a test receives through app.inject is checked against the app's OpenAPI document (helpers/contract.ts).
  checkAnswersAgainstDocument(app, sim)
  await app.ready()
  return { app, sim, config, logs }
}

export function testConfig (sim: { authUrl: string, apiUrl: string }, env: Record<string, string> = {}): Config {
  return loadConfig({
    EJENTO_AUTH_URL: sim.authUrl,
    EJENTO_API_URL: sim.apiUrl,
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    COOKIE_SECURE: 'false',
    LOG_LEVEL: 'info',
    ...env
  })
}

/** The `name=value` pair of the session cookie an answer set (the last one wins, as in a browser), or undefined. */
export function sessionCookie (response: LightMyRequestResponse, config: Config): string | undefined {
  const cookie = response.cookies.findLast((candidate) => candidate.name === config.session.cookieName)
  return cookie === undefined || cookie.value === '' ? undefined : `${cookie.name}=${cookie.value}`
}

/** Logs in through the BFF and answers the cookie header to send next. */
export async function login (context: TestContext, credentials = DEMO): Promise<string> {
  const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: credentials })
  if (response.statusCode !== 200) throw new Error(`log-in failed: ${response.statusCode} ${response.body}`)
  const cookie = sessionCookie(response, context.config)
  if (cookie === undefined) throw new Error('log-in set no session cookie')
  return cookie
}

/** Fails the test if any secret appears in `text`. */
export function secretsIn (text: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => secret.length > 0 && text.includes(secret))
}

export const sleep = async (ms: number): Promise<void> => {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** POST /api/agents/1/chat-threads with a session cookie. */
export async function createThread (context: TestContext, cookie: string): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })
}

/** The Authorization header an upstream request carried. */
export function authorizationOf (request: RecordedRequest | undefined): string | undefined {
  const header = request?.headers.authorization
  return Array.isArray(header) ? header[0] : header
}

/** The store's id of the session a `name=value` cookie names: the value before the signature, URL-decoded. */
export function sessionIdOf (cookie: string): string {
  const value = cookie.slice(cookie.indexOf('=') + 1)
  return decodeURIComponent(value).split('.')[0] as string
}
