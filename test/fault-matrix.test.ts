import { request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import { gunzipSync } from 'node:zlib'
import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { DEMO, onFileCleanup, sleep } from './helpers/app.js'
import { FAULTS, HUGE_BODY_BYTES, startChaosUpstream } from './helpers/chaos-upstream.js'
import type { ChaosUpstream, ChaosUpstreamName, Fault } from './helpers/chaos-upstream.js'
import { waitFor, within } from './helpers/processes.js'
import { REAL_SECRET, alive, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * The fault matrix (issue 10): the compiled server on a real socket, in front of a chaos
 * upstream, driven through every route kind × every upstream fault, then through clients
 * that misbehave. After each case: the process is alive, the caller got problem JSON (or,
 * for a stream that had started, a clean final `event: error`), nothing is left open (streams
 * gauge, upstream pool, calls held upstream), and no secret reached the answer or the logs.
 */

const SUBSCRIPTION_KEY = 'chaos-matrix-subscription-key-7f3a9c'
const SIGNUP_PASSWORD = 'chaos-signup-password-51d0e2'

/** What one route kind sends, and which upstream call the fault is armed on. */
interface RouteKind {
  name: string
  upstream: ChaosUpstreamName
  target: RegExp
  /** json: the BFF reads a JSON answer; stream: an event stream is passed on; passthrough: any answer is passed on. */
  shape: 'json' | 'stream' | 'passthrough'
  needs: 'nothing' | 'session' | 'thread'
  request: (context: { cookie: string, threadId: number }) => Call
}

interface Call {
  method: string
  path: string
  headers?: Record<string, string>
  json?: unknown
}

const ROUTE_KINDS: RouteKind[] = [
  {
    name: 'POST /api/agents/1/chat-threads',
    upstream: 'ejento',
    target: /^\/api\/agent\/1\/chat-thread$/,
    shape: 'json',
    needs: 'session',
    request: ({ cookie }) => ({ method: 'POST', path: '/api/agents/1/chat-threads', headers: { cookie }, json: {} })
  },
  {
    name: 'POST /api/agents/1/responses (JSON)',
    upstream: 'ejento',
    target: /^\/api\/agent\/1\/response$/,
    shape: 'json',
    needs: 'thread',
    request: ({ cookie, threadId }) => ({ method: 'POST', path: '/api/agents/1/responses', headers: { cookie }, json: { user_query: 'Hello', chat_thread_id: threadId } })
  },
  {
    name: 'POST /api/agents/1/responses (event stream)',
    upstream: 'ejento',
    target: /^\/api\/agent\/1\/response$/,
    shape: 'stream',
    needs: 'thread',
    request: ({ cookie, threadId }) => ({ method: 'POST', path: '/api/agents/1/responses', headers: { cookie, accept: 'text/event-stream' }, json: { user_query: 'Hello', chat_thread_id: threadId } })
  },
  {
    name: 'GET /api/users',
    upstream: 'auth',
    target: /^\/api\/users\/$/,
    shape: 'json',
    needs: 'session',
    request: ({ cookie }) => ({ method: 'GET', path: '/api/users', headers: { cookie } })
  },
  {
    name: 'GET /proxy/ejento/api/agents',
    upstream: 'ejento',
    target: /^\/api\/agents$/,
    shape: 'passthrough',
    needs: 'session',
    request: ({ cookie }) => ({ method: 'GET', path: '/proxy/ejento/api/agents', headers: { cookie } })
  },
  {
    name: 'GET /proxy/auth/api/users/me',
    upstream: 'auth',
    target: /^\/api\/users\/me$/,
    shape: 'passthrough',
    needs: 'session',
    request: ({ cookie }) => ({ method: 'GET', path: '/proxy/auth/api/users/me', headers: { cookie } })
  },
  {
    name: 'POST /auth/login',
    upstream: 'auth',
    target: /^\/api\/login\/access-token$/,
    shape: 'json',
    needs: 'nothing',
    request: () => ({ method: 'POST', path: '/auth/login', json: DEMO })
  },
  {
    name: 'POST /auth/signup',
    upstream: 'auth',
    target: /^\/api\/users\/signup$/,
    shape: 'json',
    needs: 'nothing',
    request: () => ({ method: 'POST', path: '/auth/signup', json: { email: `chaos-${signups++}@example.com`, password: SIGNUP_PASSWORD, full_name: 'Chaos' } })
  },
  {
    name: 'POST /auth/refresh',
    upstream: 'auth',
    target: /^\/api\/users\/refresh-access-token$/,
    shape: 'json',
    needs: 'session',
    request: ({ cookie }) => ({ method: 'POST', path: '/auth/refresh', headers: { cookie } })
  }
]
let signups = 0

type Outcome =
  | { problem: number, code: string }
  /** A stream that had started: 200, then a final `event: error` and a clean end. */
  | { streamError: true }
  /** The upstream's answer, passed on (the passthrough passes any answer). */
  | { passed: true }
  /** A download that had started, cut where the upstream cut it: the browser must not take it for whole. */
  | { cut: true }

const problem = (status: number, code: string): Outcome => ({ problem: status, code })

/** What each fault must come to, by what the route does with an answer. */
function expected (shape: RouteKind['shape'], fault: Fault): Outcome[] {
  const reader = shape === 'json'
  switch (fault) {
    case '5xx-body':
    case '5xx-empty':
      return [problem(502, 'upstream_error')]
    case 'reset-before-headers':
    case 'reset-mid-body':
      return [problem(502, 'upstream_unavailable')]
    case 'reset-mid-stream':
      return reader ? [problem(502, 'upstream_unavailable')] : [{ streamError: true }]
    case 'reset-mid-download':
      return shape === 'passthrough' ? [{ cut: true }] : [problem(502, 'upstream_unavailable')]
    case 'garbage':
      return [problem(502, 'upstream_invalid_response')]
    case 'wrong-content-type':
      return shape === 'passthrough' ? [{ passed: true }] : [problem(502, 'upstream_invalid_response')]
    case 'stall-headers':
      return [problem(504, 'upstream_timeout')]
    case 'stall-body':
      return shape === 'stream' ? [{ streamError: true }] : [problem(504, 'upstream_timeout')]
    case 'huge-body':
      return shape === 'passthrough' ? [{ passed: true }] : [problem(502, 'upstream_invalid_response')]
    case 'gzip':
      // Undecodable (502), or decoded and cleaned; either way no secret may come through.
      return [problem(502, 'upstream_invalid_response'), { passed: true }]
  }
}

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  /** The whole answer arrived and ended properly (not cut). */
  complete: boolean
}

/** One call on its own connection (no keep-alive: a case must not leave a socket to the next). */
async function send (base: string, call: Call): Promise<Answer> {
  const body = call.json === undefined ? undefined : Buffer.from(JSON.stringify(call.json))
  const headers = { ...call.headers, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(body.length) }) }
  return await new Promise<Answer>((resolve, reject) => {
    const outgoing = httpRequest(new URL(call.path, base), { method: call.method, headers, agent: false }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', () => {})
      response.once('close', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks), complete: response.complete }))
    })
    outgoing.on('error', reject)
    outgoing.end(body)
  })
}

/** The answer as the browser reads it: decompressed when it says gzip and is gzip. */
function decoded (answer: Answer): string {
  if (answer.headers['content-encoding'] !== 'gzip') return answer.body.toString('utf8')
  try {
    return gunzipSync(answer.body).toString('utf8')
  } catch {
    return answer.body.toString('utf8')
  }
}

function matches (answer: Answer, outcome: Outcome): boolean {
  if ('problem' in outcome) {
    if (answer.status !== outcome.problem || !answer.complete) return false
    if (answer.headers['content-type']?.startsWith('application/problem+json') !== true) return false
    const body = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>
    return body.code === outcome.code && body.status === outcome.problem && typeof body.title === 'string' && body.type === 'about:blank'
  }
  if ('streamError' in outcome) {
    const text = answer.body.toString('utf8')
    return answer.status === 200 && answer.complete &&
      answer.headers['content-type']?.startsWith('text/event-stream') === true &&
      /event: error\ndata: \{[^\n]*"code":"upstream_stream_failed"[^\n]*\}\n\n$/.test(text)
  }
  if ('cut' in outcome) return answer.status === 200 && !answer.complete
  return answer.status >= 200 && answer.status < 300 && answer.complete
}

describe('fault matrix: every route kind × every upstream fault, on one compiled server', () => {
  let sim: Simulator
  let chaos: ChaosUpstream
  let server: RealServer
  let logsChecked = 0
  const cookies: string[] = []

  beforeAll(async () => {
    sim = await startSimulator({ subscriptionKey: SUBSCRIPTION_KEY, streamIntervalMs: 5 })
    onFileCleanup(sim.close)
    chaos = await startChaosUpstream(sim, onFileCleanup)
    // Short upstream timeouts, so that stalls end within a second or so. Answers' bodies follow
    // their headers at once here, so the body timeout can be the shorter one.
    server = await startRealServer(chaos, {
      EJENTO_SUBSCRIPTION_KEY: SUBSCRIPTION_KEY,
      UPSTREAM_HEADERS_TIMEOUT: '1s',
      UPSTREAM_BODY_TIMEOUT: '600ms',
      REFRESH_TIMEOUT: '1500ms',
      AUTH_RATE_LIMIT_PER_IP: '100000',
      AUTH_RATE_LIMIT_PER_ACCOUNT: '100000'
    }, onFileCleanup)
  })

  const secrets = (): string[] => [...sim.state.issuedTokens, DEMO.password, SIGNUP_PASSWORD, SUBSCRIPTION_KEY, REAL_SECRET, ...cookies.map((cookie) => cookie.split('=')[1] as string)]

  async function prepare (kind: RouteKind): Promise<{ cookie: string, threadId: number }> {
    if (kind.needs === 'nothing') return { cookie: '', threadId: 0 }
    const cookie = await realLogin(server.base)
    cookies.push(cookie)
    if (kind.needs === 'session') return { cookie, threadId: 0 }
    const thread = await send(server.base, { method: 'POST', path: '/api/agents/1/chat-threads', headers: { cookie }, json: {} })
    expect(thread.status).toBe(201)
    return { cookie, threadId: (JSON.parse(thread.body.toString('utf8')) as { data: { id: number } }).data.id }
  }

  for (const kind of ROUTE_KINDS) {
    describe(kind.name, () => {
      for (const fault of FAULTS) {
        it(`${fault}: ${expected(kind.shape, fault).map(describeOutcome).join(' or ')}; alive, idle, no secret`, async () => {
          const context = await prepare(kind)
          const armed = chaos.arm(fault, { upstream: kind.upstream, path: kind.target })
          const answer = await within(15_000, send(server.base, kind.request(context)), `${kind.name} under ${fault}`)

          expect(armed.hits, 'the fault hit the call').toBe(1)
          const outcomes = expected(kind.shape, fault)
          expect(outcomes.some((outcome) => matches(answer, outcome)), `${answer.status} ${answer.headers['content-type'] ?? ''} complete=${String(answer.complete)}: ${answer.body.subarray(0, 300).toString('utf8')}`).toBe(true)
          if (fault === 'huge-body' && kind.shape === 'passthrough') expect(answer.body.length).toBeGreaterThan(HUGE_BODY_BYTES)

          // Decompressed or not, no token field and no credential the call carried (a new session's cookie aside).
          const { 'set-cookie': _cookie, ...headers } = answer.headers
          for (const text of [answer.body.toString('latin1'), decoded(answer), JSON.stringify(headers)]) {
            expect(text).not.toMatch(/"(?:access_token|ejento_access_token|refresh_token)"/)
            expect(secrets().filter((secret) => text.includes(secret))).toEqual([])
          }
          await expectIdleAndClean()
        })
      }
    })
  }

  it('the pool gauges see a call under way (so their 0 means idle)', async () => {
    const cookie = await realLogin(server.base)
    cookies.push(cookie)
    chaos.arm('stall-headers', { upstream: 'ejento', path: /chat-thread$/ })
    const call = send(server.base, { method: 'POST', path: '/api/agents/1/chat-threads', headers: { cookie }, json: {} })
    expect(await waitFor(() => chaos.openCalls() === 1, 5000)).toBe(true)
    expect((await scrape(server)).running.ejento).toBe(1)
    expect((await within(15_000, call, 'the stalled call')).status).toBe(504)
    await expectIdleAndClean()
  })

  it('no secret anywhere in what the process wrote during the whole matrix', async () => {
    await sleep(200)
    expect(secrets().filter((secret) => server.stdout().includes(secret))).toEqual([])
    expect(server.stdout()).toContain('"code":"upstream_timeout"')
    expect(server.stderr()).toBe('')
  })

  /** Alive, nothing left open anywhere, no secret in what the process logged since the last check, nothing on stderr. */
  async function expectIdleAndClean (): Promise<void> {
    await expectIdle(server, chaos)
    const output = server.stdout()
    const fresh = output.slice(logsChecked)
    logsChecked = output.length
    expect(secrets().filter((secret) => fresh.includes(secret)), 'secrets in the logs').toEqual([])
    expect(fresh, 'a request the BFF failed itself').not.toContain('"code":"internal_error"')
    expect(server.stderr()).toBe('')
  }
})

describe('fault matrix: clients that misbehave, on a compiled server with long upstream timeouts', () => {
  let chaos: ChaosUpstream
  let server: RealServer
  let cookie: string

  beforeAll(async () => {
    const sim = await startSimulator({ streamIntervalMs: 5 })
    onFileCleanup(sim.close)
    chaos = await startChaosUpstream(sim, onFileCleanup)
    // Upstream timeouts far beyond the test's patience: whatever is let go must be let go at once.
    server = await startRealServer(chaos, { UPSTREAM_HEADERS_TIMEOUT: '60s', UPSTREAM_BODY_TIMEOUT: '60s', PROXY_RETRY_BUFFER: '64kb' }, onFileCleanup)
    cookie = await realLogin(server.base)
  })

  const head = (method: string, path: string, headers: Record<string, string>): string =>
    `${method} ${path} HTTP/1.1\r\nhost: localhost\r\ncookie: ${cookie}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n`

  /** Alive, idle, nothing on stderr (no crash, no warning), and no request the BFF failed itself. */
  async function expectUnharmed (): Promise<void> {
    await expectIdle(server, chaos)
    expect(server.stderr()).toBe('')
    expect(server.logs().filter((line) => line.code === 'internal_error')).toEqual([])
  }

  it('a client that leaves in the middle of an event stream: the upstream call is aborted', async () => {
    chaos.arm('stall-body', { upstream: 'ejento', path: /\/response$/ })
    const json = JSON.stringify({ user_query: 'Hi', chat_thread_id: 1 })
    const client = await rawClient(server.base)
    client.write(head('POST', '/api/agents/1/responses', { accept: 'text/event-stream', 'content-type': 'application/json', 'content-length': String(json.length) }) + json)
    await client.until((text) => text.includes('event: start'))
    client.reset()
    await expectUnharmed()
  })

  it('a client that leaves in the middle of a passthrough event stream', async () => {
    chaos.arm('stall-body', { upstream: 'ejento', path: /^\/api\/agents$/ })
    const client = await rawClient(server.base)
    client.write(head('GET', '/proxy/ejento/api/agents', { accept: 'text/event-stream' }))
    await client.until((text) => text.includes('event: start'))
    client.reset()
    await expectUnharmed()
  })

  it('a client that leaves in the middle of a large passthrough JSON answer', async () => {
    chaos.arm('huge-body', { upstream: 'ejento', path: /^\/api\/agents$/ })
    const client = await rawClient(server.base)
    client.write(head('GET', '/proxy/ejento/api/agents', {}))
    await client.until((text) => text.length > 2 * 1024 * 1024)
    client.reset()
    await expectUnharmed()
  })

  it('a client that leaves before the upstream answers', async () => {
    chaos.arm('stall-headers', { upstream: 'ejento', path: /chat-thread$/ })
    const client = await rawClient(server.base)
    client.write(head('POST', '/api/agents/1/chat-threads', { 'content-type': 'application/json', 'content-length': '2' }) + '{}')
    expect(await waitFor(() => chaos.openCalls() === 1, 5000), 'the call reached the upstream').toBe(true)
    client.reset()
    await expectUnharmed()
  })

  it('a client that leaves in the middle of a streamed passthrough upload', async () => {
    const client = await rawClient(server.base)
    // Larger than PROXY_RETRY_BUFFER: streamed upstream as it arrives.
    client.write(head('POST', '/proxy/ejento/api/agent/1/documents', { 'content-type': 'application/octet-stream', 'content-length': String(1024 * 1024) }))
    client.write(Buffer.alloc(256 * 1024, 'a'))
    expect(await waitFor(() => chaos.openCalls() === 1, 5000), 'the upload reached the upstream').toBe(true)
    client.reset()
    await expectUnharmed()
  })

  it('a client that leaves in the middle of a JSON upload to a named route', async () => {
    const client = await rawClient(server.base)
    client.write(head('POST', '/api/agents/1/responses', { 'content-type': 'application/json', 'content-length': '100000' }) + '{"user_query": "' + 'a'.repeat(10_000))
    await sleep(200)
    client.reset()
    await expectUnharmed()
  })

  for (const [name, path] of [['a streamed passthrough upload', '/proxy/ejento/api/agent/1/documents'], ['a JSON upload to a named route', '/api/agents/1/responses']] as const) {
    it(`garbage from a client in the middle of ${name}: the connection ends, nothing is left open`, async () => {
      const client = await rawClient(server.base)
      client.write(head('POST', path, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }))
      client.write(`${(128 * 1024).toString(16)}\r\n{"user_query": "${'a'.repeat(128 * 1024 - 16)}\r\n`)
      await sleep(200)
      client.write('ZZZ not a chunk size\r\n\r\n')
      const text = await client.closed()
      if (text !== '') expect(text).toMatch(/^HTTP\/1\.1 4\d\d /)
      await expectUnharmed()
    })
  }

  it('garbage from a client: 400 problem JSON, and the process carries on', async () => {
    const client = await rawClient(server.base)
    client.write('\x16\x03\x01\x02\x00 this is not HTTP\r\n\r\n')
    const text = await client.closed()
    expect(text).toMatch(/^HTTP\/1\.1 400 /)
    expect(text).toMatch(/\r\ncontent-type: application\/problem\+json/i)
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 400, code: 'bad_request' })
    await expectUnharmed()
  })

  it('garbage from a client while its event stream is being answered: that connection ends, nothing else', async () => {
    chaos.arm('stall-body', { upstream: 'ejento', path: /\/response$/ })
    const json = JSON.stringify({ user_query: 'Hi', chat_thread_id: 1 })
    const client = await rawClient(server.base)
    client.write(head('POST', '/api/agents/1/responses', { accept: 'text/event-stream', 'content-type': 'application/json', 'content-length': String(json.length) }) + json)
    await client.until((text) => text.includes('event: start'))
    client.write('\x00\x01 garbage \r\n\r\n')
    const text = await client.closed()
    expect(text).not.toContain('HTTP/1.1 400')
    await expectUnharmed()
  })
})

interface RawClient {
  write: (data: string | Buffer) => void
  /** Waits (10 s at most) until what was received passes `check`. */
  until: (check: (received: string) => boolean) => Promise<void>
  /** Everything received once the server has closed the connection (10 s at most). */
  closed: () => Promise<string>
  /** Leaves abruptly (TCP RST), as a killed browser tab or a dropped network does. */
  reset: () => void
}

async function rawClient (base: string): Promise<RawClient> {
  const socket = connect(Number(new URL(base).port), '127.0.0.1')
  socket.on('error', () => {})
  let received = ''
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1') })
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await new Promise((resolve) => socket.once('connect', resolve))
  return {
    write: (data) => { socket.write(data) },
    until: async (check) => {
      expect(await waitFor(() => check(received), 10_000), `never received that: ${received.slice(0, 300)}`).toBe(true)
    },
    closed: async () => {
      await within(10_000, ended, 'the server closing the connection')
      return received
    },
    reset: () => { socket.resetAndDestroy() }
  }
}

/** Waits until nothing is open: no stream, no call in either upstream pool, no call held upstream; and the process answers. */
async function expectIdle (server: RealServer, chaos: ChaosUpstream): Promise<void> {
  let last: Scrape | undefined
  const idle = await waitFor(async () => {
    last = await scrape(server)
    return last.openStreams === 0 && chaos.openCalls() === 0 &&
      (['auth', 'ejento'] as const).every((upstream) => last?.running[upstream] === 0 && last.pending[upstream] === 0)
  }, 5000, 50)
  expect(idle, `not idle: ${JSON.stringify(last)}, calls held upstream: ${chaos.openCalls()}`).toBe(true)
  expect(chaos.armed(), 'a fault was left armed').toEqual([])
  expect(await alive(server)).toBe(true)
  expect(server.child.exitCode).toBeNull()
}

interface Scrape {
  openStreams: number
  running: Record<ChaosUpstreamName, number>
  pending: Record<ChaosUpstreamName, number>
}

async function scrape (server: RealServer): Promise<Scrape> {
  const text = await (await fetch(`${server.base}/metrics`)).text()
  const value = (pattern: RegExp): number => {
    const match = pattern.exec(text)
    if (match?.[1] === undefined) throw new Error(`no sample ${String(pattern)} in /metrics`)
    return Number(match[1])
  }
  const pool = (state: string, upstream: string): number => value(new RegExp(`^ejento_bff_upstream_pool_${state}\\{upstream="${upstream}"\\} (\\S+)$`, 'm'))
  return {
    openStreams: value(/^ejento_bff_open_streams (\S+)$/m),
    running: { auth: pool('running', 'auth'), ejento: pool('running', 'ejento') },
    pending: { auth: pool('pending', 'auth'), ejento: pool('pending', 'ejento') }
  }
}

function describeOutcome (outcome: Outcome): string {
  if ('problem' in outcome) return `${outcome.problem} ${outcome.code}`
  if ('streamError' in outcome) return 'event: error'
  if ('cut' in outcome) return 'cut like the upstream cut it'
  return 'passed on'
}
