import { request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import { Client } from 'undici'
import type { Dispatcher } from 'undici'
import { describe, expect, it } from 'vitest'
import { onCleanup } from './helpers/app.js'
import { spawnServer, waitFor, within } from './helpers/processes.js'
import { REDIS_URL, describeWithRedis, testPrefix } from './helpers/redis.js'
import type { ServerProcess } from './helpers/processes.js'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../src/simulator/index.js'

const SECRET = 'shutdown-test-session-secret-0123456789abcdef'
const QUERY = 'What happens to my stream when the server shuts down?'
/** Long enough for a whole stream (about 3 s at 150 ms a word). */
const GRACE_MS = 10_000

/** The real server, listening at `base`. */
interface Server extends ServerProcess {
  base: string
}

/** A simulator in this process, closed after the test. */
async function simulator (options: SimulatorOptions): Promise<Simulator> {
  const sim = await startSimulator(options)
  onCleanup(sim.close)
  return sim
}

/** Spawns the real server against `sim`, and waits for its "Server listening" line. */
async function startServer (sim: Simulator, env: Record<string, string> = {}): Promise<Server> {
  const server = await spawnServer({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    EJENTO_AUTH_URL: sim.authUrl,
    EJENTO_API_URL: sim.apiUrl,
    SESSION_SECRET: SECRET,
    COOKIE_SECURE: 'false',
    ...env
  })
  return { ...server, base: await server.listening() }
}

/** A client on one connection; destroyed after the test. */
function clientFor (base: string, options: Client.Options = {}): Client {
  const client = new Client(base, { keepAliveTimeout: 60_000, ...options })
  onCleanup(async () => { await client.destroy() })
  return client
}

interface Session {
  cookie: string
  threadId: number
}

/** Logs in over HTTP and creates a chat thread with agent 1. */
async function session (base: string): Promise<Session> {
  const client = clientFor(base)
  const login = await client.request({
    method: 'POST',
    path: '/auth/login',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'demo@example.com', password: 'demo-password' })
  })
  const answer = await login.body.text()
  expect(login.statusCode, answer).toBe(200)
  const setCookie = login.headers['set-cookie']
  const cookie = (Array.isArray(setCookie) ? setCookie : [setCookie ?? '']).map((value) => value.split(';')[0] as string).filter((value) => value.includes('=')).at(-1)
  expect(cookie).toBeDefined()
  const thread = await client.request({ method: 'POST', path: '/api/agents/1/chat-threads', headers: { cookie: cookie as string } })
  const body = await thread.body.json() as { data: { id: number } }
  expect(thread.statusCode).toBe(201)
  await client.close()
  return { cookie: cookie as string, threadId: body.data.id }
}

function streamRequest ({ cookie, threadId }: Session): Dispatcher.RequestOptions {
  return {
    method: 'POST',
    path: '/api/agents/1/responses',
    headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' },
    body: JSON.stringify({ user_query: QUERY, chat_thread_id: threadId })
  }
}

interface StreamRead {
  text: string
  events: string[]
  /** The error the body ended with, if it did not end cleanly. */
  error: unknown
  endedAt: number
}

/** Reads an SSE body to its end (or its failure); `onEvent` is told of each event name as it arrives. */
async function readStream (body: AsyncIterable<Buffer | string>, onEvent: (event: string, events: string[]) => void = () => {}): Promise<StreamRead> {
  let text = ''
  let seen = 0
  const events: string[] = []
  let error: unknown
  try {
    for await (const chunk of body) {
      text += chunk.toString()
      const complete = text.split('\n\n').slice(0, -1)
      for (const block of complete.slice(seen)) {
        const name = /^event: (.+)$/m.exec(block)?.[1] ?? 'message'
        events.push(name)
        onEvent(name, events)
      }
      seen = complete.length
    }
  } catch (caught) {
    error = caught
  }
  return { text, events, error, endedAt: Date.now() }
}

type Probe = { status: number, headers: IncomingHttpHeaders, body: string } | { error: string }

/** One request on a brand-new connection (no agent, no keep-alive pool). */
async function probe (base: string, path = '/healthz'): Promise<Probe> {
  return await new Promise<Probe>((resolve) => {
    const request = httpRequest(new URL(path, base), { agent: false, timeout: 5_000 }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
      response.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    })
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    request.end()
  })
}

function messages (server: Server): string[] {
  return server.logs().map((line) => String(line.msg ?? ''))
}

/** Sends SIGTERM and waits until the child logged that it is shutting down. */
async function terminate (server: Server): Promise<number> {
  const at = Date.now()
  server.child.kill('SIGTERM')
  expect(await waitFor(() => messages(server).some((message) => message.startsWith('shutting down')), 5_000), 'the child logs "shutting down"').toBe(true)
  return at
}

describe('graceful shutdown of the real server process', () => {
  it('lets an open stream finish after SIGTERM, then exits 0 soon after it ended', { timeout: 40_000 }, async () => {
    const sim = await simulator({ streamIntervalMs: 150 })
    const server = await startServer(sim, { SHUTDOWN_GRACE_PERIOD: `${GRACE_MS}ms` })
    const live = await session(server.base)

    const streaming = clientFor(server.base)
    const response = await streaming.request(streamRequest(live))
    expect(response.statusCode).toBe(200)
    expect(String(response.headers['content-type'])).toMatch(/^text\/event-stream/)
    let signalled: Promise<number> | undefined
    const read = readStream(response.body, (_event, events) => {
      // After the first events: start and one token.
      if (events.length === 2) signalled = terminate(server)
    })
    const stream = await within(20_000, read, 'the stream')
    expect(signalled).toBeDefined()
    const sigtermAt = await (signalled as Promise<number>)

    expect(stream.error).toBeUndefined()
    expect(stream.events[0]).toBe('start')
    expect(stream.events.at(-1)).toBe('end')
    expect(stream.events.filter((event) => event === 'token').length).toBeGreaterThan(3)
    // Most of the stream was sent after the signal.
    expect(stream.endedAt - sigtermAt).toBeGreaterThan(500)
    expect(stream.text).toContain('event: end')

    // Nothing is left to wait for once the stream ended: the process exits soon after, not
    // when the grace period runs out (10 s after the signal).
    const exit = await within(GRACE_MS + 5_000, server.exited, 'the exit')
    expect(exit.signal).toBeNull()
    expect(exit.code).toBe(0)
    expect(exit.at).toBeGreaterThanOrEqual(stream.endedAt - 50)
    const logged = messages(server)
    expect(logged).toContain('shut down')
    expect(exit.at - stream.endedAt, `exit ${exit.at - sigtermAt} ms after SIGTERM, ${exit.at - stream.endedAt} ms after the stream ended; logs: ${logged.join(' | ')}`).toBeLessThan(3_000)
    expect(logged.some((message) => message.startsWith('grace period over'))).toBe(false)
    expect(server.stderr()).toBe('')
  })

  it('refuses a new connection made after SIGTERM, or answers it 503 shutting_down', { timeout: 40_000 }, async () => {
    const sim = await simulator({ streamIntervalMs: 150 })
    const server = await startServer(sim, { SHUTDOWN_GRACE_PERIOD: `${GRACE_MS}ms` })
    const live = await session(server.base)
    const before = await probe(server.base)
    expect(before).toMatchObject({ status: 200 })

    const streaming = clientFor(server.base)
    const response = await streaming.request(streamRequest(live))
    let first!: () => void
    const firstEvent = new Promise<void>((resolve) => { first = resolve })
    const read = readStream(response.body, () => first())
    await within(5_000, firstEvent, 'the first event')
    await terminate(server)

    const after = await probe(server.base)
    if ('error' in after) {
      expect(after.error).toBe('ECONNREFUSED')
    } else {
      expect(after.status).toBe(503)
      expect(after.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(JSON.parse(after.body)).toMatchObject({ status: 503, code: 'shutting_down' })
      expect(after.headers.connection).toBe('close')
    }
    // The stream is not disturbed by it.
    const stream = await within(20_000, read, 'the stream')
    expect(stream.events.at(-1)).toBe('end')
    // (How soon after the stream the process exits is the first test's subject.)
    const exit = await within(GRACE_MS + 5_000, server.exited, 'the exit')
    expect(exit.code).toBe(0)
  })

  it('cuts a stream that outlasts SHUTDOWN_GRACE_PERIOD and still exits 0', { timeout: 40_000 }, async () => {
    const sim = await simulator({ streamIntervalMs: 1000 })
    const server = await startServer(sim, { SHUTDOWN_GRACE_PERIOD: '500ms' })
    const live = await session(server.base)

    const streaming = clientFor(server.base)
    const response = await streaming.request(streamRequest(live))
    expect(response.statusCode).toBe(200)
    let signalled: Promise<number> | undefined
    const read = readStream(response.body, (event) => {
      if (event === 'start') signalled = terminate(server)
    })
    const exit = await within(10_000, server.exited, 'the exit')
    const sigtermAt = await (signalled as Promise<number>)
    expect(exit.signal).toBeNull()
    expect(exit.code).toBe(0)
    expect(exit.at - sigtermAt).toBeLessThan(3_000)
    expect(exit.at - sigtermAt).toBeGreaterThanOrEqual(400)

    const stream = await within(5_000, read, 'the cut stream')
    expect(stream.events).not.toContain('end')
    expect(stream.text).not.toContain('event: end')
    // The client sees the stream cut: a socket error, not a clean end.
    expect(stream.error).toBeDefined()

    const logged = server.logs()
    const over = logged.find((line) => String(line.msg).startsWith('grace period over'))
    expect(over, 'a log line says the grace period is over').toBeDefined()
    expect(over?.openStreams).toBe(1)
    expect(messages(server)).toContain('shut down')
    // The upstream call was aborted too, not left running.
    expect(await waitFor(() => sim.requestsTo('api', /\/response$/).every((request) => request.aborted || request.completed), 3_000)).toBe(true)
    expect(sim.requestsTo('api', /\/response$/)[0]?.completed).toBe(false)
  })

  it('closes an idle keep-alive connection on SIGTERM: the next request on that client is refused', { timeout: 40_000 }, async () => {
    const sim = await simulator({ streamIntervalMs: 150 })
    const server = await startServer(sim, { SHUTDOWN_GRACE_PERIOD: `${GRACE_MS}ms` })
    const live = await session(server.base)

    // One keep-alive connection, used once and left idle.
    const keptAlive = clientFor(server.base, { pipelining: 1 })
    let disconnected = 0
    keptAlive.on('disconnect', () => { disconnected += 1 })
    const first = await keptAlive.request({ method: 'GET', path: '/auth/session', headers: { cookie: live.cookie } })
    expect(first.statusCode).toBe(200)
    expect(first.headers.connection).toBe('keep-alive')
    await first.body.json()

    // A stream on a second connection keeps the server in its grace period.
    const streaming = clientFor(server.base)
    const response = await streaming.request(streamRequest(live))
    let started!: () => void
    const startedEvent = new Promise<void>((resolve) => { started = resolve })
    const read = readStream(response.body, () => started())
    await within(5_000, startedEvent, 'the first event')

    await terminate(server)
    // Node's server.close() closes idle connections at once: the kept-alive one is gone before
    // any request could use it, so it cannot be answered 503; a new request needs a new
    // connection, which is refused.
    expect(await waitFor(() => disconnected > 0, 3_000), 'the server closed the idle keep-alive connection').toBe(true)
    const second = await keptAlive.request({ method: 'GET', path: '/auth/session', headers: { cookie: live.cookie } }).then(
      async (answer) => ({ status: answer.statusCode, headers: answer.headers, body: await answer.body.text() }),
      (error: NodeJS.ErrnoException) => ({ error: error.code ?? error.message })
    )
    expect(second).toEqual({ error: 'ECONNREFUSED' })

    const stream = await within(20_000, read, 'the stream')
    expect(stream.events.at(-1)).toBe('end')
    expect((await within(GRACE_MS + 5_000, server.exited, 'the exit')).code).toBe(0)
  })

  it('answers a request arriving on a busy keep-alive connection during the grace period 503 shutting_down, Connection: close', { timeout: 40_000 }, async () => {
    const sim = await simulator({ streamIntervalMs: 150 })
    const server = await startServer(sim, { SHUTDOWN_GRACE_PERIOD: `${GRACE_MS}ms` })
    const live = await session(server.base)

    // One connection, pipelining: the stream is in flight on it when the next request arrives.
    const keptAlive = clientFor(server.base, { pipelining: 2 })
    const response = await keptAlive.request(streamRequest(live))
    expect(response.statusCode).toBe(200)
    let started!: () => void
    const startedEvent = new Promise<void>((resolve) => { started = resolve })
    const read = readStream(response.body, () => started())
    await within(5_000, startedEvent, 'the first event')

    await terminate(server)
    const next = keptAlive.request({ method: 'GET', path: '/auth/session', headers: { cookie: live.cookie } }).then(
      async (answer) => ({ status: answer.statusCode, headers: answer.headers, body: await answer.body.text(), at: Date.now() }),
      (error: NodeJS.ErrnoException) => ({ error: error.code ?? error.message })
    )

    const stream = await within(20_000, read, 'the stream')
    expect(stream.error).toBeUndefined()
    expect(stream.events.at(-1)).toBe('end')
    const answer = await within(10_000, next, 'the pipelined request')
    expect(answer).toMatchObject({ status: 503 })
    if (!('status' in answer)) throw new Error('unreachable')
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(answer.headers.connection).toBe('close')
    expect(answer.headers['retry-after']).toBe('1')
    expect(JSON.parse(answer.body)).toMatchObject({ status: 503, code: 'shutting_down' })
    // Answered in order on the connection: after the stream.
    expect(answer.at).toBeGreaterThanOrEqual(stream.endedAt - 50)

    const exit = await within(10_000, server.exited, 'the exit')
    expect(exit.code).toBe(0)
    expect(messages(server)).toContain('shut down')
  })
})

describeWithRedis('shutdown with Redis', () => {
  it('on SIGINT closes Redis and the upstream pools, so the process ends by itself with 0 (nothing left open to force)', { timeout: 40_000 }, async () => {
    const sim = await simulator({})
    const server = await startServer(sim, { REDIS_URL, REDIS_KEY_PREFIX: testPrefix() })
    const ready = async (): Promise<boolean> => (await fetch(`${server.base}/readyz`)).status === 200
    expect(await waitFor(ready, 10_000), 'the server became ready').toBe(true)
    const live = await session(server.base) // a log-in (auth pool), a thread (Ejento pool), the session in Redis

    const thread = await clientFor(server.base).request({ method: 'POST', path: '/api/agents/1/chat-threads', headers: { cookie: live.cookie } })
    await thread.body.dump()
    expect(thread.statusCode).toBe(201)
    server.child.kill('SIGINT')

    const exit = await within(10_000, server.exited, 'the exit')
    expect(exit.signal).toBeNull()
    expect(exit.code).toBe(0)
    const logged = messages(server)
    expect(logged).toContain('shut down')
    expect(logged.filter((message) => message.startsWith('exit forced')), logged.join(' | ')).toEqual([])
    expect(server.stderr()).toBe('')
  })
})
