import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { DEMO, onCleanup } from './helpers/app.js'
import { freePort } from './helpers/ports.js'
import { waitFor } from './helpers/processes.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { startRedisProcess, tempFolder } from './helpers/redis-process.js'

const CHAT_THREADS = '/api/agents/1/chat-threads'

interface Outcome {
  what: string
  status: number
  code: string | undefined
  retryAfter: string | null
  /** Sent after the primary was frozen. */
  sentFrozen: boolean
  cookie?: string
}

async function send (base: string, method: string, path: string, sentFrozen: boolean, options: { cookie?: string, json?: unknown } = {}): Promise<Outcome> {
  const headers: Record<string, string> = {}
  if (options.cookie !== undefined) headers.cookie = options.cookie
  if (options.json !== undefined) headers['content-type'] = 'application/json'
  const answer = await fetch(base + path, { method, headers, ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }) })
  const text = await answer.text()
  let code: string | undefined
  try { code = (JSON.parse(text) as { code?: string }).code } catch {}
  const cookie = answer.headers.getSetCookie().map((line) => line.split(';')[0] as string).findLast((pair) => !pair.endsWith('='))
  return { what: `${method} ${path}`, status: answer.status, code, retryAfter: answer.headers.get('retry-after'), sentFrozen, ...(cookie === undefined ? {} : { cookie }) }
}

function storeUnavailable (outcome: Outcome): boolean {
  return outcome.status === 503 && outcome.code === 'store_unavailable' && outcome.retryAfter !== null
}

describeWithRedisServer('regression: a Redis primary that freezes (SIGSTOP) instead of dying', () => {
  // Found attacking issue 14 (A1): requests in flight when the primary froze waited for the
  // whole freeze. A frozen server keeps its connections open, so nothing but the client's
  // timeouts can end them: every request must answer while the primary is still frozen.
  it('every request in flight or sent during the freeze answers (success before the freeze, else 503 store_unavailable with Retry-After) while the primary is still frozen; after SIGCONT service resumes and no session was lost', { timeout: 120_000 }, async () => {
    const port = await freePort()
    const primary = await startRedisProcess({ args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], port, dir: await tempFolder('frozen-primary') })
    const sim = await startSimulator({})
    onCleanup(sim.close)
    const server = await startRealServer(sim, { REDIS_URL: `redis://127.0.0.1:${port}`, AUTH_RATE_LIMIT_PER_IP: '100000', AUTH_RATE_LIMIT_PER_ACCOUNT: '100000' })
    const sessions: string[] = []
    for (let index = 0; index < 6; index++) sessions.push(await realLogin(server.base))

    // Reads, upstream calls and log-ins, one after the other on each of six workers.
    const outcomes: Outcome[] = []
    const state = { frozen: false, streaming: true }
    const worker = async (offset: number): Promise<void> => {
      for (let turn = offset; state.streaming; turn += 6) {
        const sentFrozen = state.frozen
        const cookie = sessions[turn % sessions.length] as string
        const kind = turn % 3
        outcomes.push(await (kind === 0
          ? send(server.base, 'GET', '/auth/session', sentFrozen, { cookie })
          : kind === 1 ? send(server.base, 'POST', CHAT_THREADS, sentFrozen, { cookie }) : send(server.base, 'POST', '/auth/login', sentFrozen, { json: DEMO })))
      }
    }
    const stream = Promise.all([0, 1, 2, 3, 4, 5].map(worker))
    await waitFor(() => outcomes.length > 30, 20_000)
    await primary.kill('SIGSTOP')
    state.frozen = true
    // Enough for requests caught mid-way and new ones to meet the freeze; then the stream stops
    // and the test waits for every request to answer, the primary still frozen. A request that
    // waited for the freeze to end would hold the test until its timeout.
    await waitFor(() => outcomes.filter((outcome) => outcome.sentFrozen).length >= 12, 60_000)
    state.streaming = false
    await stream
    expect(primary.running()).toBe(true)

    const failures = outcomes.filter((outcome) => outcome.status >= 300)
    expect(failures.filter((outcome) => !storeUnavailable(outcome)), 'answers other than success or 503 store_unavailable with Retry-After').toEqual([])
    const duringFreeze = outcomes.filter((outcome) => outcome.sentFrozen)
    expect(duringFreeze.length).toBeGreaterThanOrEqual(12)
    expect(duringFreeze.every(storeUnavailable), duringFreeze.map((outcome) => `${outcome.what} ${outcome.status}`).join(', ')).toBe(true)

    await primary.kill('SIGCONT')
    expect(await waitFor(async () => (await send(server.base, 'GET', '/readyz', false)).status === 200, 15_000, 50)).toBe(true)
    // Every session from before the freeze, and every log-in that succeeded, still works.
    const loggedIn = outcomes.filter((outcome) => outcome.what === 'POST /auth/login' && outcome.status === 200).map((outcome) => outcome.cookie as string)
    expect(loggedIn.length).toBeGreaterThan(0)
    for (const [index, cookie] of [...sessions, ...loggedIn].entries()) {
      const session = await send(server.base, 'GET', '/auth/session', false, { cookie })
      expect(session.status, `session ${index}`).toBe(200)
      const call = await send(server.base, 'POST', CHAT_THREADS, false, { cookie })
      expect(call.status, `call with session ${index} (${String(call.code)})`).toBe(201)
    }
  })
})
