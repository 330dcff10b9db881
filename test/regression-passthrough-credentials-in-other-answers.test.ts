import { randomBytes } from 'node:crypto'
import { createServer, request as httpRequest } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import type { FastifyBaseLogger } from 'fastify'
import { beforeAll, describe, expect, it } from 'vitest'
import { credentialCutter } from '../src/proxy/credential-cutter.js'
import { startSimulator } from '../src/simulator/index.js'
import { login, onCleanup, onFileCleanup, setup } from './helpers/app.js'
import type { CleanupScope, TestContext } from './helpers/app.js'
import { injectUnchecked } from './helpers/contract.js'
import { PROFILES } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (outside attack, finding 8): on the passthrough, answers that are neither JSON nor
 * an event stream (text/plain, text/html, no type, octet-stream), JSON documents over 1 MiB and
 * ndjson lines over 1 MiB passed the exact bearer token and gateway key through unchanged: an
 * upstream echoing `Authorization: Bearer <token>` into an HTML error page handed the token to
 * the browser. A compressed HTML page passed on compressed, unsearched. Now every such answer
 * loses the call's credentials as it streams (src/proxy/credential-cutter.ts), split across
 * writes or not; compressed answers of any type are decoded first; Range is not forwarded.
 *
 * The hostile upstreams below stand in front of the simulator (log-in and the rest pass
 * through to it) and answer `/echo/<kind>` with the credentials the call carried.
 */

interface Call { token: string, key: string, range: string | undefined }

interface Echo {
  type?: string
  bytes: Buffer
  encoding?: string
  status?: number
  headers?: Record<string, string>
  /** How the body is written: whole, one byte per write, or in these pieces (a pause after each). */
  writes?: 'bytewise' | Buffer[]
}

const WITHHELD = '[withheld]'
const MIB = 1024 * 1024

/** Bytes of no text encoding, the same for the whole run, with credentials put between them. */
const NOISE = randomBytes(4096)
/** A download without credentials: must arrive byte for byte. */
const BINARY = randomBytes(3 * MIB + 12_345)

function html ({ token, key }: Call): string {
  return `<!doctype html><html><body><h1>401 Unauthorized</h1><pre>Authorization: Bearer ${token}\nOcp-Apim-Subscription-Key: ${key}\nétat: refusé</pre></body></html>\n`
}

/** The long ndjson line: its first write ends in the middle of the token, past the 1 MiB a line is held. */
function longLineWrites ({ token, key }: Call): Buffer[] {
  const half = Math.floor(token.length / 2)
  const head = `{"n":1}\n{"key":"${key}","pad":"`
  const pad = 'x'.repeat(MIB + 100 - head.length - half)
  return [Buffer.from(`${head}${pad}${token.slice(0, half)}`), Buffer.from(`${token.slice(half)} after"}\n{"n":3}\n`)]
}

function echoOf (kind: string, call: Call): Echo | undefined {
  const { token, key } = call
  switch (kind) {
    case 'text': return { type: 'text/plain; charset=utf-8', bytes: Buffer.from(`debug: Bearer ${token}\nkey=${key}\ntoken twice: ${token}${token}\n`) }
    case 'html': return { type: 'text/html; charset=utf-8', bytes: Buffer.from(html(call)) }
    case 'untyped': return { bytes: Buffer.from(`token=${token}&key=${key}&end=1`) }
    case 'octet': return { type: 'application/octet-stream', bytes: Buffer.concat([NOISE.subarray(0, 1000), Buffer.from(token), NOISE.subarray(1000, 1500), Buffer.from(key), NOISE.subarray(1500)]) }
    case 'big-json': {
      const bytes = Buffer.from(JSON.stringify({ echo: `Bearer ${token}`, pad: 'p'.repeat(MIB), again: token, key }))
      return { type: 'application/json', bytes }
    }
    case 'big-json-chunked': {
      // No Content-Length: read up to 1 MiB, then passed on as it comes.
      const bytes = Buffer.from(JSON.stringify({ pad: 'q'.repeat(MIB - 10), echo: `Bearer ${token}`, key }))
      return { type: 'application/json', bytes, writes: [bytes.subarray(0, MIB - 5), bytes.subarray(MIB - 5)] }
    }
    case 'bytewise': return { type: 'text/plain', bytes: Buffer.from(`<${token}|${key}|${token}>`), writes: 'bytewise' }
    case 'gzip-html': return { type: 'text/html', bytes: Buffer.from(html(call)), encoding: 'gzip' }
    case 'ndjson-long': {
      const writes = longLineWrites(call)
      return { type: 'application/x-ndjson', bytes: Buffer.concat(writes), writes }
    }
    case 'binary': return { type: 'application/octet-stream', bytes: BINARY, writes: [BINARY.subarray(0, MIB), BINARY.subarray(MIB, 2 * MIB + 7), BINARY.subarray(2 * MIB + 7)] }
    case 'partial': return { type: 'text/plain', status: 206, headers: { 'content-range': 'bytes 0-99/1000' }, bytes: Buffer.from(`part ${token}`.padEnd(100, '.')) }
    default: return undefined
  }
}

/** Kinds whose answer arrives whole, every credential replaced by `[withheld]`, the rest as written. */
const CUT_KINDS = ['text', 'html', 'untyped', 'octet', 'big-json', 'big-json-chunked', 'bytewise', 'gzip-html', 'ndjson-long']

async function write (response: ServerResponse, echo: Echo): Promise<void> {
  const pause = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 20)) }
  const bytes = echo.encoding === 'gzip' ? gzipSync(echo.bytes) : echo.bytes
  if (echo.writes === undefined) {
    response.setHeader('content-length', bytes.length)
    response.end(bytes)
    return
  }
  if (echo.writes === 'bytewise') {
    // One byte per write, each flushed before the next: the token is cut at every offset.
    for (const byte of bytes) {
      response.write(Buffer.from([byte]))
      await new Promise((resolve) => setImmediate(resolve))
    }
  } else {
    for (const piece of echo.writes) {
      response.write(piece)
      await pause()
    }
  }
  response.end()
}

/** Passes a call on to the simulator as it is. */
function forward (request: IncomingMessage, response: ServerResponse, target: string): void {
  const outgoing = httpRequest(new URL(request.url ?? '/', target), { method: request.method, headers: request.headers }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(response)
  })
  outgoing.on('error', () => { response.destroy() })
  request.pipe(outgoing)
}

/** An upstream in front of `target` that answers `/echo/<kind>` with the credentials its call carried. */
async function echoingUpstream (target: string, calls: Call[], cleanup: CleanupScope): Promise<string> {
  const server = createServer((request, response) => {
    const kind = /^\/echo\/([a-z-]+)/.exec(request.url ?? '')?.[1]
    if (kind === undefined) {
      forward(request, response, target)
      return
    }
    request.resume()
    const call = { token: String(request.headers.authorization ?? '').replace(/^Bearer /, ''), key: String(request.headers['ocp-apim-subscription-key'] ?? ''), range: request.headers.range }
    calls.push(call)
    const echo = echoOf(kind, call)
    if (echo === undefined) {
      response.statusCode = 404
      response.end()
      return
    }
    response.statusCode = echo.status ?? 200
    if (echo.type !== undefined) response.setHeader('content-type', echo.type)
    if (echo.encoding !== undefined) response.setHeader('content-encoding', echo.encoding)
    for (const [name, value] of Object.entries(echo.headers ?? {})) response.setHeader(name, value)
    write(response, echo).catch(() => { response.destroy() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanup(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** What the browser must read: the upstream's bytes with each credential of the call replaced. */
function expectedBytes (kind: string, call: Call): Buffer {
  let bytes = (echoOf(kind, call) as Echo).bytes
  for (const secret of [call.token, call.key].filter((value) => value !== '')) {
    const parts: Buffer[] = []
    let from = 0
    for (let at = bytes.indexOf(secret); at !== -1; at = bytes.indexOf(secret, from)) {
      parts.push(bytes.subarray(from, at), Buffer.from(WITHHELD))
      from = at + secret.length
    }
    parts.push(bytes.subarray(from))
    bytes = Buffer.concat(parts)
  }
  return bytes
}

function expectNoCredential (bytes: Buffer, call: Call | undefined): void {
  expect(call).toBeDefined()
  const { token, key } = call as Call
  expect(token.length).toBeGreaterThan(20)
  expect(bytes.includes(token)).toBe(false)
  if (key !== '') expect(bytes.includes(key)).toBe(false)
}

const UPSTREAMS = ['ejento', 'auth'] as const

/** The simulator behind two echoing upstreams; the calls each received. */
async function hostileUpstreams (profile: TestProfile, cleanup: CleanupScope): Promise<{ authUrl: string, apiUrl: string, calls: Call[] }> {
  const sim = await startSimulator(profile.sim)
  cleanup(sim.close)
  const calls: Call[] = []
  return { authUrl: await echoingUpstream(sim.authUrl, calls, cleanup), apiUrl: await echoingUpstream(sim.apiUrl, calls, cleanup), calls }
}

describe('credentialCutter, a credential split at every offset', () => {
  const log = { warn: () => {} } as unknown as FastifyBaseLogger
  const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl'
  const key = 'gateway-key-0123456789abcdef'
  const text = Buffer.from(`e ey eyJ <${token}> ${key}${token} gateway-key-0 e`)
  const expected = `e ey eyJ <${WITHHELD}> ${WITHHELD}${WITHHELD} gateway-key-0 e`

  async function through (chunks: Buffer[]): Promise<string> {
    const cutter = credentialCutter(log, 'ejento', 'Ejento API', [Buffer.from(token), Buffer.from(key)])
    const out: Buffer[] = []
    cutter.on('data', (chunk: Buffer) => out.push(chunk))
    const ended = new Promise((resolve) => cutter.once('end', resolve))
    for (const chunk of chunks) cutter.write(chunk)
    cutter.end()
    await ended
    return Buffer.concat(out).toString('latin1')
  }

  it('two chunks, split at every offset', async () => {
    for (let at = 0; at <= text.length; at += 1) {
      expect(await through([text.subarray(0, at), text.subarray(at)]), `split at ${at}`).toBe(expected)
    }
  })

  it('one byte per chunk', async () => {
    expect(await through([...text].map((byte) => Buffer.from([byte])))).toBe(expected)
  })
})

describe.each(PROFILES)('regression: the passthrough\'s non-JSON, large JSON and compressed answers lose the call\'s credentials, on %s', (_name, profile) => {
  it('app.inject: every kind, both upstreams: no credential, the rest exact; a download byte for byte; one warning per answer', async () => {
    const { authUrl, apiUrl, calls } = await hostileUpstreams(profile, onCleanup)
    const context: TestContext = await setup({ profile, env: { EJENTO_AUTH_URL: authUrl, EJENTO_API_URL: apiUrl } })
    const cookie = await login(context)
    for (const upstream of UPSTREAMS) {
      for (const kind of CUT_KINDS) {
        const logsBefore = context.logs.length
        const answer = await injectUnchecked(context.app, { method: 'GET', url: `/proxy/${upstream}/echo/${kind}`, headers: { cookie } })
        const call = calls.at(-1) as Call
        expect(answer.statusCode, `${upstream} ${kind}`).toBe(200)
        expect(answer.headers['content-encoding'], kind).toBeUndefined()
        expectNoCredential(answer.rawPayload, call)
        expect(answer.rawPayload.equals(expectedBytes(kind, call)), `${upstream} ${kind}: the rest of the bytes as written`).toBe(true)
        const warnings = context.logs.slice(logsBefore).filter((line) => line.includes('credentials the call carried were cut out'))
        expect(warnings.length, `${upstream} ${kind}`).toBeGreaterThanOrEqual(1)
        if (kind !== 'ndjson-long') expect(warnings, `${upstream} ${kind}: one warning per answer`).toHaveLength(1)
      }
      const binary = await injectUnchecked(context.app, { method: 'GET', url: `/proxy/${upstream}/echo/binary`, headers: { cookie } })
      expect(binary.statusCode).toBe(200)
      expect(binary.rawPayload.equals(BINARY)).toBe(true)
    }
    for (const call of calls) expect(context.logs.join('\n')).not.toContain(call.token)
  })

  it('app.inject: a Range is not forwarded, and a 206 that holds a credential is not passed on', async () => {
    const { authUrl, apiUrl, calls } = await hostileUpstreams(profile, onCleanup)
    const context = await setup({ profile, env: { EJENTO_AUTH_URL: authUrl, EJENTO_API_URL: apiUrl } })
    const cookie = await login(context)
    const answer = await injectUnchecked(context.app, { method: 'GET', url: '/proxy/ejento/echo/text', headers: { cookie, range: 'bytes=10-' } })
    expect(calls.at(-1)?.range).toBeUndefined()
    expect(answer.statusCode).toBe(200)
    expect(answer.headers['accept-ranges']).toBeUndefined()
    const partial = await injectUnchecked(context.app, { method: 'GET', url: '/proxy/ejento/echo/partial', headers: { cookie } })
    expectNoCredential(partial.rawPayload, calls.at(-1))
    expect(partial.body).not.toContain(WITHHELD)
  })

  describe('compiled server on a real socket', () => {
    let server: RealServer
    let cookie: string
    let calls: Call[]

    beforeAll(async () => {
      const upstreams = await hostileUpstreams(profile, onFileCleanup)
      calls = upstreams.calls
      server = await startRealServer(upstreams, profile.env, onFileCleanup)
      cookie = await realLogin(server.base)
    })

    const cases = UPSTREAMS.flatMap((upstream) => CUT_KINDS.map((kind) => [upstream, kind] as const))

    it.each(cases)('/proxy/%s: %s arrives without the token or key, the rest exact', async (upstream, kind) => {
      const response = await fetch(`${server.base}/proxy/${upstream}/echo/${kind}`, { headers: { cookie }, signal: AbortSignal.timeout(20_000) })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-encoding')).toBeNull()
      const bytes = Buffer.from(await response.arrayBuffer())
      const call = calls.at(-1) as Call
      expectNoCredential(bytes, call)
      expect(bytes.equals(expectedBytes(kind, call))).toBe(true)
    })

    it.each(UPSTREAMS)('/proxy/%s: a large download without credentials passes byte for byte', async (upstream) => {
      const response = await fetch(`${server.base}/proxy/${upstream}/echo/binary`, { headers: { cookie }, signal: AbortSignal.timeout(20_000) })
      expect(response.status).toBe(200)
      expect(Buffer.from(await response.arrayBuffer()).equals(BINARY)).toBe(true)
    })

    it('a Range is not forwarded; a 206 holding a credential never reaches the browser with it; no credential in the logs', async () => {
      const ranged = await fetch(`${server.base}/proxy/ejento/echo/text`, { headers: { cookie, range: 'bytes=10-' }, signal: AbortSignal.timeout(20_000) })
      expect(calls.at(-1)?.range).toBeUndefined()
      expect(ranged.status).toBe(200)
      await ranged.arrayBuffer()
      const partial = await fetch(`${server.base}/proxy/ejento/echo/partial`, { headers: { cookie }, signal: AbortSignal.timeout(20_000) })
      // Ended, not cut: the body read fails, or holds neither the credential nor a cut one.
      const body = await partial.arrayBuffer().then((bytes) => Buffer.from(bytes), () => Buffer.alloc(0))
      expectNoCredential(body, calls.at(-1))
      expect(body.includes(WITHHELD)).toBe(false)
      expect(await alive(server)).toBe(true)
      const output = server.stdout() + server.stderr()
      for (const call of calls) {
        expect(output).not.toContain(call.token)
        if (call.key !== '') expect(output).not.toContain(call.key)
      }
    })
  })
})
