import { createServer, request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { brotliCompressSync, constants, deflateSync, gzipSync } from 'node:zlib'
import { request } from 'undici'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { DEMO, onCleanup } from './helpers/app.js'
import { within } from './helpers/processes.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (issue 10, item 5): an upstream answer with `Content-Encoding: gzip` reached the
 * browser unsearched, token fields and echoed credentials included. Now the BFF asks for
 * `identity`, and decodes what comes compressed anyway before cleaning it; a bomb or an
 * encoding it cannot decode is a 502, never passed on.
 */

/** How the compressing proxy in front of an upstream encodes its answers. */
type Encoding = 'gzip' | 'br' | 'deflate' | 'gzip, br'

const ENCODERS: Record<Encoding, (bytes: Buffer) => Buffer> = {
  gzip: (bytes) => gzipSync(bytes),
  br: (bytes) => brotliCompressSync(bytes),
  deflate: (bytes) => deflateSync(bytes),
  'gzip, br': (bytes) => brotliCompressSync(gzipSync(bytes))
}

interface CompressingProxy {
  url: string
  /** How the next answers are encoded; undefined: passed as they are. */
  encoding: Encoding | undefined
  /** Instead of encoding, answer every call with these bytes and this Content-Encoding. */
  fixed: { encoding: string, bytes: Buffer, type?: string } | undefined
  /** The headers of every call it received. */
  seen: IncomingHttpHeaders[]
}

/** A proxy in front of one simulated upstream that compresses its answers, asked or not (as some gateways do). */
async function compressingProxy (target: string): Promise<CompressingProxy> {
  const proxy: CompressingProxy = { url: '', encoding: undefined, fixed: undefined, seen: [] }
  const server = createServer((req, res) => {
    proxy.seen.push(req.headers)
    const { fixed, encoding } = proxy
    if (fixed !== undefined) {
      req.resume()
      res.writeHead(200, { 'content-type': fixed.type ?? 'application/json', 'content-encoding': fixed.encoding, 'content-length': fixed.bytes.length })
      res.end(fixed.bytes)
      return
    }
    const forwarded = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
      readAll(answer).then((bytes) => {
        const { 'content-length': _length, 'transfer-encoding': _chunked, connection: _connection, ...headers } = answer.headers
        const body = encoding === undefined ? bytes : ENCODERS[encoding](bytes)
        res.writeHead(answer.statusCode ?? 502, { ...headers, ...(encoding === undefined ? {} : { 'content-encoding': encoding }), 'content-length': body.length })
        res.end(body)
      }, () => { res.destroy() })
    })
    forwarded.on('error', () => { res.destroy() })
    req.pipe(forwarded)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return proxy
}

async function readAll (stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

interface Setup {
  sim: Simulator
  auth: CompressingProxy
  api: CompressingProxy
  server: RealServer
}

/** The simulator behind two compressing proxies, and the compiled BFF in front of them. */
async function start (): Promise<Setup> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  const auth = await compressingProxy(sim.authUrl)
  const api = await compressingProxy(sim.apiUrl)
  const server = await startRealServer({ authUrl: auth.url, apiUrl: api.url }, { EJENTO_SUBSCRIPTION_KEY: 'subscription-key-never-echoed' })
  return { sim, auth, api, server }
}

/** A call as the browser's network stack sees it: status, headers and the bytes exactly as sent (nothing decoded). */
async function call (base: string, path: string, options: { method?: 'GET' | 'POST', cookie?: string, json?: unknown } = {}): Promise<{ status: number, headers: IncomingHttpHeaders, body: Buffer }> {
  const answer = await request(`${base}${path}`, {
    method: options.method ?? 'GET',
    headers: {
      'accept-encoding': 'gzip, deflate, br',
      ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
      ...(options.json === undefined ? {} : { 'content-type': 'application/json' })
    },
    ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) })
  })
  return { status: answer.statusCode, headers: answer.headers as IncomingHttpHeaders, body: Buffer.from(await answer.body.arrayBuffer()) }
}

/** Every credential the simulator handed out or the BFF carried. */
function credentials (sim: Simulator): string[] {
  return [...sim.state.issuedTokens, 'subscription-key-never-echoed', DEMO.password]
}

function expectClean (text: string, sim: Simulator): void {
  for (const secret of credentials(sim)) expect(text, 'a credential reached the browser').not.toContain(secret)
}

describe('regression: compressed upstream answers are decoded and cleaned, never passed on unsearched', () => {
  it('asks every upstream for identity, and a log-in whose answer arrives gzip-compressed still works', async () => {
    const { sim, auth, api, server } = await start()
    auth.encoding = 'gzip'
    api.encoding = 'gzip'
    const cookie = await realLogin(server.base)
    const thread = await call(server.base, '/api/agents/1/chat-threads', { method: 'POST', cookie, json: {} })
    expect(thread.status).toBe(201)
    expect(thread.headers['content-encoding']).toBeUndefined()
    expect(JSON.parse(thread.body.toString('utf8'))).toMatchObject({ success: true })
    expectClean(thread.body.toString('utf8'), sim)
    expect([...auth.seen, ...api.seen].map((headers) => headers['accept-encoding'])).toEqual(expect.arrayContaining(['identity']))
    for (const headers of [...auth.seen, ...api.seen]) expect(headers['accept-encoding']).toBe('identity')
  })

  for (const encoding of Object.keys(ENCODERS) as Encoding[]) {
    it(`passthrough, "${encoding}": token fields dropped and echoed credentials withheld, as in a plain answer`, async () => {
      const { sim, api, server } = await start()
      const cookie = await realLogin(server.base)
      api.encoding = encoding
      sim.inject({ upstream: 'api', path: '/api/agents', status: 200, body: { access_token: 'leaked-access-token', data: { name: 'kept' } } })
      const fields = await call(server.base, '/proxy/ejento/api/agents', { cookie })
      expect(fields.status).toBe(200)
      expect(fields.headers['content-encoding']).toBeUndefined()
      expect(JSON.parse(fields.body.toString('utf8'))).toEqual({ data: { name: 'kept' } })

      // A debug endpoint echoing the call's headers: its Authorization and subscription key.
      sim.inject({ upstream: 'api', path: '/api/debug', mode: 'echo' })
      const echo = await call(server.base, '/proxy/ejento/api/debug', { cookie })
      expect(echo.status).toBe(200)
      expect(echo.headers['content-encoding']).toBeUndefined()
      const echoed = JSON.parse(echo.body.toString('utf8')) as { headers: Record<string, string> }
      expect(echoed.headers.authorization).toBe('Bearer [withheld]')
      expect(echoed.headers['ocp-apim-subscription-key']).toBe('[withheld]')
      expectClean(echo.body.toString('utf8'), sim)
      expect(await alive(server)).toBe(true)
    })
  }

  it('the authentication server\'s compressed answers lose passwords and echoed input too', async () => {
    const { sim, auth, server } = await start()
    const cookie = await realLogin(server.base)
    auth.encoding = 'br'
    sim.inject({ upstream: 'auth', path: '/api/users/me', status: 422, body: { detail: [{ loc: ['body', 'password'], msg: 'too long', input: 'my-secret-password' }], hashed_password: 'x' } })
    const answer = await call(server.base, '/proxy/auth/api/users/me', { cookie })
    expect(answer.status).toBe(422)
    expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ detail: [{ loc: ['body', 'password'], msg: 'too long' }] })
  })

  it('named routes: a compressed agent answer is cleaned like a plain one', async () => {
    const { sim, api, server } = await start()
    const cookie = await realLogin(server.base)
    api.encoding = 'gzip'
    sim.inject({ upstream: 'api', path: '/api/agent/1/response', status: 200, body: { answer: 'hello', ejento_access_token: 'leaked-ejento-token' } })
    const fields = await call(server.base, '/api/agents/1/responses', { method: 'POST', cookie, json: { user_query: 'hi', chat_thread_id: 1 } })
    expect(fields.status).toBe(200)
    expect(JSON.parse(fields.body.toString('utf8'))).toEqual({ answer: 'hello' })

    sim.inject({ upstream: 'api', path: '/api/agent/1/response', mode: 'echo' })
    const echo = await call(server.base, '/api/agents/1/responses', { method: 'POST', cookie, json: { user_query: 'hi', chat_thread_id: 1 } })
    expect(echo.status).toBe(200)
    expect(echo.body.toString('utf8')).toContain('Bearer [withheld]')
    expectClean(echo.body.toString('utf8'), sim)
  })

  it('JSON lines arrive decoded and are cleaned line by line', async () => {
    const { sim, api, server } = await start()
    const cookie = await realLogin(server.base)
    api.encoding = 'gzip'
    const lines = '{"n":1,"refresh_token":"leaked-1"}\n{"n":2}\n{"n":3,"access_token":"leaked-3"}\n'
    sim.inject({ upstream: 'api', path: '/api/events', status: 200, body: lines, headers: { 'content-type': 'application/x-ndjson' } })
    const answer = await call(server.base, '/proxy/ejento/api/events', { cookie })
    expect(answer.status).toBe(200)
    expect(answer.headers['content-encoding']).toBeUndefined()
    expect(answer.body.toString('utf8')).toBe('{"n":1}\n{"n":2}\n{"n":3}\n')
  })

  it('a decompression bomb (gzip or brotli) is refused with 502 within seconds, and the server stays up', async () => {
    const { api, server } = await start()
    const cookie = await realLogin(server.base)
    // 64 MiB of JSON that compresses a thousand times (gzip) or far more (brotli).
    const plain = Buffer.alloc(64 * 1024 * 1024, 0x20)
    plain.write('{"a":"')
    plain.write('"}', plain.length - 2)
    const bombs: Array<[string, Buffer]> = [
      ['gzip', gzipSync(plain, { level: 1 })],
      ['br', brotliCompressSync(plain, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } })]
    ]
    for (const [encoding, bytes] of bombs) {
      api.fixed = { encoding, bytes }
      for (const path of ['/proxy/ejento/api/bomb', '/api/agents/1/chat-threads']) {
        const answer = await within(10_000, call(server.base, path, { method: path.startsWith('/api/') ? 'POST' : 'GET', cookie, json: path.startsWith('/api/') ? {} : undefined }), `${encoding} bomb on ${path}`)
        expect(answer.status, `${encoding} on ${path}`).toBe(502)
        expect(JSON.parse(answer.body.toString('utf8')).code).toBe('upstream_invalid_response')
      }
    }
    expect(await alive(server)).toBe(true)
  })

  it('a JSON answer in an encoding the BFF cannot decode, or corrupt, is a 502; a compressed image arrives decoded (searched like any answer)', async () => {
    const { api, server } = await start()
    const cookie = await realLogin(server.base)
    const json = Buffer.from('{"access_token":"leaked-access-token"}')
    for (const fixed of [
      { encoding: 'compress', bytes: json },
      { encoding: 'zstd', bytes: json },
      { encoding: 'gzip, gzip, gzip', bytes: gzipSync(gzipSync(gzipSync(json))) },
      { encoding: 'gzip', bytes: json },
      { encoding: 'gzip', bytes: gzipSync(json).subarray(0, 20) }
    ]) {
      api.fixed = fixed
      const answer = await call(server.base, '/proxy/ejento/api/agents', { cookie })
      expect(answer.status, fixed.encoding).toBe(502)
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(JSON.parse(answer.body.toString('utf8')).code).toBe('upstream_invalid_response')
    }

    const image = Buffer.from('\x89PNG\r\n\x1a\n pretend pixels, the access_token of nobody')
    api.fixed = { encoding: 'gzip', bytes: gzipSync(image), type: 'image/png' }
    const passed = await call(server.base, '/proxy/ejento/api/files/1', { cookie })
    expect(passed.status).toBe(200)
    // Decoded by the BFF (a browser decodes any encoding, so none passes unsearched: finding 8), the bytes unchanged.
    expect(passed.headers['content-encoding']).toBeUndefined()
    expect(passed.body).toEqual(image)
    expect(await alive(server)).toBe(true)
  })
})
