import { createServer } from 'node:http'
import type { ServerResponse } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { ADMIN, onCleanup, sleep } from './helpers/app.js'
import { waitFor, within } from './helpers/processes.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (issue 10, item 4): a client that sent headers and then stalled its body was
 * never cut, and a stalled passthrough upload held an upstream connection forever, so a few
 * of them starved other users' calls. Now a body silent for REQUEST_BODY_TIMEOUT, or a
 * request longer than REQUEST_TIMEOUT in all, is answered 408 `request_timeout` and its
 * connection closed, which aborts the upload upstream and frees its pooled connection.
 */

/** An Ejento API stand-in that reads every upload to its end before answering, and counts them. */
interface UploadUpstream {
  url: string
  /** Uploads being received right now. */
  inFlight: number
  completed: number
  /** Uploads whose connection closed before their body ended. */
  aborted: number
}

async function uploadUpstream (): Promise<UploadUpstream> {
  const upstream: UploadUpstream = { url: '', inFlight: 0, completed: 0, aborted: 0 }
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      json(res, { pong: true })
      return
    }
    upstream.inFlight += 1
    let received = 0
    req.on('data', (chunk: Buffer) => { received += chunk.length })
    req.once('end', () => {
      upstream.inFlight -= 1
      upstream.completed += 1
      json(res, { received })
    })
    req.once('close', () => {
      if (req.complete) return
      upstream.inFlight -= 1
      upstream.aborted += 1
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return upstream
}

function json (res: ServerResponse, body: unknown): void {
  const payload = JSON.stringify(body)
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) })
  res.end(payload)
}

async function start (env: Record<string, string>): Promise<{ server: RealServer, upstream: UploadUpstream }> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  const upstream = await uploadUpstream()
  const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: upstream.url }, env)
  return { server, upstream }
}

interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
  /** When the BFF closed the connection, epoch ms. */
  closedAt: number
}

/** One request on its own socket, written piece by piece as the test says; the answer once the BFF closes the connection. */
function rawCall (base: string, method: string, path: string, headers: Record<string, string>): { write: (data: string) => void, answer: Promise<RawAnswer> } {
  const { port } = new URL(base)
  const socket = connect(Number(port), '127.0.0.1')
  onCleanup(async () => { socket.destroy() })
  socket.write(`${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`)
  const answer = new Promise<RawAnswer>((resolve) => {
    let data = ''
    socket.setEncoding('utf8').on('data', (chunk: string) => { data += chunk })
    // A reset after the answer is still an answer: what arrived is what counts.
    socket.on('error', () => {})
    socket.once('close', () => { resolve({ ...parse(data), closedAt: Date.now() }) })
  })
  return { write: (data) => { if (!socket.destroyed) socket.write(data) }, answer }
}

function parse (data: string): Omit<RawAnswer, 'closedAt'> {
  const end = data.indexOf('\r\n\r\n')
  if (end === -1) return { status: 0, headers: {}, body: data }
  const [statusLine = '', ...lines] = data.slice(0, end).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
  return { status: Number(statusLine.split(' ')[1]), headers, body: data.slice(end + 4) }
}

function expectRequestTimeout (answer: RawAnswer): void {
  expect(answer.status, answer.body).toBe(408)
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(answer.headers.connection).toBe('close')
  expect(answer.headers['x-request-id']).toMatch(/\S/)
  expect(JSON.parse(answer.body)).toMatchObject({ status: 408, code: 'request_timeout' })
}

describe('regression: stalled request bodies are cut with 408 and free their upstream connection', () => {
  it('a client that sends headers and stalls gets 408 problem JSON after REQUEST_BODY_TIMEOUT, and its connection closed', async () => {
    const { server, upstream } = await start({ REQUEST_BODY_TIMEOUT: '1500ms' })
    const cookie = await realLogin(server.base)
    const calls = [
      // Small enough to be kept for a retry.
      rawCall(server.base, 'POST', '/proxy/ejento/api/files', { cookie, 'content-type': 'application/octet-stream', 'content-length': '500' }),
      // A named route: Fastify's JSON parser is reading it.
      rawCall(server.base, 'POST', '/api/agents/1/responses', { cookie, 'content-type': 'application/json', 'content-length': '100' }),
      // No session needed to stall.
      rawCall(server.base, 'POST', '/auth/login', { 'content-type': 'application/json', 'content-length': '100' })
    ]
    const started = Date.now()
    calls[0]?.write('the first bytes, then nothing')
    const answers = await within(15_000, Promise.all(calls.map(async (call) => await call.answer)), 'the stalled requests')
    for (const answer of answers) {
      expectRequestTimeout(answer)
      expect(JSON.parse(answer.body).detail).toMatch(/stopped arriving/)
      expect(answer.closedAt - started).toBeGreaterThanOrEqual(1400)
      expect(answer.closedAt - started).toBeLessThan(8000)
    }
    expect(upstream.completed + upstream.aborted).toBe(0)
    expect(await alive(server)).toBe(true)
    // Cut for the client's own stall: logged as such, never as a failure of the BFF.
    expect(await waitFor(() => server.logs().filter((line) => line.msg === 'the request body stalled: answered 408 and closed').length === 3, 3000)).toBe(true)
    await sleep(500)
    expect(server.logs().filter((line) => Number(line.level) >= 50)).toEqual([])
  })

  it('a body that keeps trickling but takes longer than REQUEST_TIMEOUT in all is cut with 408 too', async () => {
    const { server } = await start({ REQUEST_TIMEOUT: '3s', REQUEST_BODY_TIMEOUT: '2s' })
    const cookie = await realLogin(server.base)
    const call = rawCall(server.base, 'POST', '/proxy/ejento/api/files', { cookie, 'content-type': 'application/octet-stream', 'content-length': '100000' })
    const started = Date.now()
    // A byte every quarter second: never silent for REQUEST_BODY_TIMEOUT.
    const trickle = setInterval(() => { call.write('x') }, 250)
    onCleanup(async () => { clearInterval(trickle) })
    const answer = await within(15_000, call.answer, 'the trickling request')
    clearInterval(trickle)
    expectRequestTimeout(answer)
    expect(JSON.parse(answer.body).detail).toMatch(/took too long/)
    expect(answer.closedAt - started).toBeGreaterThanOrEqual(2900)
    expect(answer.closedAt - started).toBeLessThan(10_000)
    expect(await alive(server)).toBe(true)
  })

  it('three stalled streamed uploads no longer starve another user\'s call (UPSTREAM_CONNECTIONS=3), and the pool recovers', async () => {
    const { server, upstream } = await start({ UPSTREAM_CONNECTIONS: '3', PROXY_RETRY_BUFFER: '1kb', REQUEST_BODY_TIMEOUT: '2s' })
    const stalling = await realLogin(server.base)
    const other = await realLogin(server.base, ADMIN)

    // Each upload is larger than PROXY_RETRY_BUFFER, so it streams upstream on its own connection, then stalls.
    const uploads = [1, 2, 3].map(() => rawCall(server.base, 'POST', '/proxy/ejento/api/files', { cookie: stalling, 'content-type': 'application/octet-stream', 'content-length': '1000000' }))
    for (const upload of uploads) upload.write('x'.repeat(8192))
    expect(await waitFor(() => upstream.inFlight === 3, 10_000), 'three uploads streaming upstream').toBe(true)

    // Every upstream connection is held: this call waits until the stalled uploads are cut.
    const started = Date.now()
    const answer = await within(12_000, fetch(`${server.base}/proxy/ejento/api/ping`, { headers: { cookie: other } }), 'another user\'s call')
    expect(answer.status).toBe(200)
    expect(await answer.json()).toEqual({ pong: true })
    expect(Date.now() - started).toBeLessThan(12_000)

    for (const upload of uploads) expectRequestTimeout(await within(10_000, upload.answer, 'a stalled upload\'s answer'))
    expect(await waitFor(() => upstream.aborted === 3, 5000), 'the three uploads aborted upstream').toBe(true)
    expect(upstream.inFlight).toBe(0)

    // The pool works at full width again.
    const pings = await within(10_000, Promise.all([1, 2, 3, 4, 5, 6].map(async () => await fetch(`${server.base}/proxy/ejento/api/ping`, { headers: { cookie: other } }))), 'six calls after the stalls')
    expect(pings.map((ping) => ping.status)).toEqual([200, 200, 200, 200, 200, 200])
    expect(await alive(server)).toBe(true)
  })

  it('a slow but steady body, longer in all than REQUEST_BODY_TIMEOUT, arrives whole (streamed, kept, and on a named route)', async () => {
    const { server, upstream } = await start({ PROXY_RETRY_BUFFER: '1kb', REQUEST_BODY_TIMEOUT: '1500ms', REQUEST_TIMEOUT: '30s' })
    const cookie = await realLogin(server.base)
    const query = JSON.stringify({ user_query: 'slowly typed', chat_thread_id: 1 })
    const cases = [
      { path: '/proxy/ejento/api/files', type: 'application/octet-stream', pieces: Array.from({ length: 5 }, () => 'y'.repeat(1024)) },
      { path: '/proxy/ejento/api/files', type: 'application/octet-stream', pieces: Array.from({ length: 5 }, () => 'z'.repeat(100)) },
      { path: '/api/agents/1/responses', type: 'application/json', pieces: [query.slice(0, 10), query.slice(10, 20), query.slice(20, 30), query.slice(30)] }
    ]
    const calls = cases.map(({ path, type, pieces }) => {
      const call = rawCall(server.base, 'POST', path, { cookie, 'content-type': type, 'content-length': String(pieces.join('').length), connection: 'close' })
      return { call, pieces }
    })
    const started = Date.now()
    // A piece every second, each gap under REQUEST_BODY_TIMEOUT; four or five seconds in all.
    for (let step = 0; step < 5; step += 1) {
      for (const { call, pieces } of calls) if (pieces[step] !== undefined) call.write(pieces[step] as string)
      await sleep(1000)
    }
    const answers = await within(15_000, Promise.all(calls.map(async ({ call }) => await call.answer)), 'the slow uploads')
    expect(Date.now() - started).toBeGreaterThan(3000)
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200])
    expect(JSON.parse(answers[0]?.body ?? '')).toEqual({ received: 5120 })
    expect(JSON.parse(answers[1]?.body ?? '')).toEqual({ received: 500 })
    expect(JSON.parse(answers[2]?.body ?? '')).toEqual({ received: query.length })
    expect(upstream.aborted).toBe(0)
  })
})
