import { createServer, request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { onCleanup } from './app.js'
import type { CleanupScope } from './app.js'

/**
 * What a misbehaving upstream can do to one call.
 * - `5xx-body`: 500 with an HTML crash page that echoes the call's credentials.
 * - `5xx-empty`: 503 with no body at all.
 * - `reset-before-headers`: reads the request, then resets the connection (TCP RST).
 * - `reset-mid-body`: 200 JSON, a quarter of its declared length, then a reset.
 * - `reset-mid-stream`: 200 text/event-stream, two events, then a reset.
 * - `reset-mid-download`: 200 application/octet-stream, a quarter of its declared length, then a reset.
 * - `garbage`: bytes that are not HTTP, then a close.
 * - `wrong-content-type`: 200 text/html (a gateway's page where JSON was asked for).
 * - `stall-headers`: never answers.
 * - `stall-body`: headers and the start of the body (JSON, or one event when the call asked
 *   for an event stream), then silence.
 * - `huge-body`: 200 JSON of 20 MiB, chunked (no length announced).
 * - `gzip`: the real answer, plus an `echo` of the call's credentials and body, gzip-compressed
 *   with `Content-Encoding: gzip` (nobody asked for it: the BFF sends no Accept-Encoding).
 */
export const FAULTS = ['5xx-body', '5xx-empty', 'reset-before-headers', 'reset-mid-body', 'reset-mid-stream', 'reset-mid-download', 'garbage', 'wrong-content-type', 'stall-headers', 'stall-body', 'huge-body', 'gzip'] as const
export type Fault = typeof FAULTS[number]

export type ChaosUpstreamName = 'auth' | 'ejento'

export interface ArmOptions {
  upstream: ChaosUpstreamName
  /** Matched against the call's path (query excluded). */
  path: RegExp
  method?: string
  /** Every matching call, until disarmed; by default only the next one. */
  persistent?: boolean
}

export interface ArmedFault {
  readonly fault: Fault
  /** Calls it was applied to. */
  readonly hits: number
  disarm: () => void
}

export interface ChaosUpstream {
  /** Stand-ins for EJENTO_AUTH_URL and EJENTO_API_URL. */
  authUrl: string
  apiUrl: string
  arm: (fault: Fault, options: ArmOptions) => ArmedFault
  /** Faults still waiting for a matching call. */
  armed: () => ArmedFault[]
  disarmAll: () => void
  /** Calls received and not yet closed, faulted or forwarded: 0 once the BFF has let go of every call. */
  openCalls: () => number
  close: () => Promise<void>
}

export const HUGE_BODY_BYTES = 20 * 1024 * 1024
const DOWNLOAD_BYTES = 1024 * 1024
const SAMPLE_JSON = Buffer.from(JSON.stringify({ success: true, message: 'ok', data: { text: 'x'.repeat(4000) } }))

interface Armed extends ArmedFault {
  readonly options: ArmOptions
  hits: number
  active: boolean
}

/**
 * A fault-injecting proxy in front of the two simulated Ejento upstreams, on real sockets and
 * random ports: every call is forwarded to the simulator unless a fault is armed for it, so
 * that log-in and everything around the call under test work as they do against Ejento.
 */
export async function startChaosUpstream (upstreams: { authUrl: string, apiUrl: string }, cleanup: CleanupScope = onCleanup): Promise<ChaosUpstream> {
  const armed: Armed[] = []
  const open = new Set<ServerResponse>()

  const take = (upstream: ChaosUpstreamName, method: string, path: string): Armed | undefined => {
    const found = armed.find((candidate) => candidate.active && candidate.options.upstream === upstream &&
      (candidate.options.method === undefined || candidate.options.method === method) && candidate.options.path.test(path))
    if (found === undefined) return undefined
    found.hits += 1
    if (found.options.persistent !== true) found.active = false
    return found
  }

  const serve = (upstream: ChaosUpstreamName, target: string): Server => {
    const server = createServer((req, res) => {
      open.add(res)
      res.once('close', () => open.delete(res))
      const path = (req.url ?? '/').split('?', 1)[0] as string
      const fault = take(upstream, req.method ?? 'GET', path)
      const run = fault === undefined ? forward(target, req, res) : applyFault(fault.fault, req, res, target)
      run.catch(() => { req.socket.destroy() })
    })
    // Like a real upstream, keep connections open between calls: faults must not depend on fresh ones.
    server.keepAliveTimeout = 30_000
    return server
  }

  const auth = serve('auth', upstreams.authUrl)
  const api = serve('ejento', upstreams.apiUrl)
  const authUrl = await listen(auth)
  const apiUrl = await listen(api)
  const close = async (): Promise<void> => {
    await Promise.all([auth, api].map(async (server) => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }))
  }
  cleanup(close)

  return {
    authUrl,
    apiUrl,
    arm: (fault, options) => {
      const entry: Armed = {
        fault,
        options,
        hits: 0,
        active: true,
        disarm: () => { entry.active = false }
      }
      armed.push(entry)
      return entry
    },
    armed: () => armed.filter((entry) => entry.active),
    disarmAll: () => { for (const entry of armed) entry.active = false },
    openCalls: () => open.size,
    close
  }
}

async function listen (server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Headers of one hop only: each side of the proxy has its own connection. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host'])

function endToEnd (headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)))
}

/** Passes the call to the simulator and its answer back, as it streams; either side leaving ends both. */
async function forward (target: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const outgoing = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: endToEnd(req.headers), agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers))
      answer.pipe(res)
      answer.on('error', reject)
    })
    outgoing.on('error', reject)
    res.once('close', () => {
      if (!res.writableFinished) outgoing.destroy()
      resolve()
    })
    req.pipe(outgoing)
  })
}

/** The simulator's whole answer to the call, with the request's body. */
async function fetchReal (target: string, req: IncomingMessage): Promise<{ status: number, headers: IncomingHttpHeaders, body: Buffer, requestBody: Buffer }> {
  const requestBody = await readAll(req)
  return await new Promise((resolve, reject) => {
    const outgoing = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: endToEnd(req.headers), agent: false }, (answer) => {
      readAll(answer).then((body) => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body, requestBody }), reject)
    })
    outgoing.on('error', reject)
    outgoing.end(requestBody)
  })
}

async function readAll (stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const wait = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Lets written bytes leave before the connection is reset: a reset throws away what is still buffered. */
async function flushed (res: ServerResponse): Promise<void> {
  await new Promise<void>((resolve) => { res.socket?.write('', () => resolve()) ?? resolve() })
  await wait(50)
}

function wantsEventStream (req: IncomingMessage): boolean {
  return req.headers.accept?.includes('text/event-stream') === true
}

/** The call's credentials, as a debug page or a crash trace would echo them, the token also under a token key. */
function credentialsOf (req: IncomingMessage): Record<string, string | undefined> {
  return {
    authorization: req.headers.authorization,
    'ocp-apim-subscription-key': req.headers['ocp-apim-subscription-key'] as string | undefined,
    access_token: req.headers.authorization?.replace(/^Bearer /i, '')
  }
}

async function applyFault (fault: Fault, req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
  if (fault === 'gzip') return await gzipped(req, res, target)
  // The request is read whole first, as a server that fails while handling it would have.
  await readAll(req)
  const socket = req.socket
  switch (fault) {
    case '5xx-body': {
      const page = `<html><body><h1>500 Internal Server Error</h1><pre>${JSON.stringify(credentialsOf(req))}</pre></body></html>`
      res.writeHead(500, { 'content-type': 'text/html' })
      res.end(page)
      return
    }
    case '5xx-empty':
      res.writeHead(503, { 'content-length': '0', 'retry-after': '7' })
      res.end()
      return
    case 'reset-before-headers':
      socket.resetAndDestroy()
      return
    case 'reset-mid-body':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(SAMPLE_JSON.length) })
      res.write(SAMPLE_JSON.subarray(0, SAMPLE_JSON.length / 4))
      await flushed(res)
      socket.resetAndDestroy()
      return
    case 'reset-mid-stream':
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
      res.write('event: start\ndata: {"chat_thread_id":1}\n\n')
      res.write('event: token\ndata: {"delta":"Half "}\n\n')
      await flushed(res)
      socket.resetAndDestroy()
      return
    case 'reset-mid-download':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(DOWNLOAD_BYTES) })
      res.write(Buffer.alloc(DOWNLOAD_BYTES / 4, 'b'))
      await flushed(res)
      socket.resetAndDestroy()
      return
    case 'garbage':
      socket.end('\x00\x17\xff not HTTP at all \r\n\r\n\x01\x02\x03')
      return
    case 'wrong-content-type':
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end('<!doctype html><html><body>Gateway maintenance page</body></html>')
      return
    case 'stall-headers':
      return
    case 'stall-body':
      if (wantsEventStream(req)) {
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' })
        res.write('event: start\ndata: {"chat_thread_id":1}\n\n')
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(SAMPLE_JSON.length) })
        res.write(SAMPLE_JSON.subarray(0, SAMPLE_JSON.length / 4))
      }
      return
    case 'huge-body':
      await hugeJson(res)
  }
}

/** 20 MiB of JSON, written as fast as it is read; stops when the reader leaves. */
async function hugeJson (res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json' })
  const filler = Buffer.alloc(64 * 1024, 'x')
  let sent = 0
  res.write('{"data":"')
  while (sent < HUGE_BODY_BYTES && !res.destroyed) {
    sent += filler.length
    if (!res.write(filler)) await drainedOrClosed(res)
  }
  if (!res.destroyed) res.end('"}')
}

async function drainedOrClosed (res: ServerResponse): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

async function gzipped (req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
  const real = await fetchReal(target, req)
  let body = real.body
  if (real.headers['content-type']?.includes('json') === true) {
    const answer = JSON.parse(real.body.toString('utf8')) as unknown
    body = Buffer.from(JSON.stringify({ ...(answer as object), echo: { ...credentialsOf(req), body: real.requestBody.toString('utf8') } }))
  }
  const compressed = gzipSync(body)
  res.writeHead(real.status, {
    'content-type': real.headers['content-type'] ?? 'application/octet-stream',
    'content-encoding': 'gzip',
    'content-length': String(compressed.length)
  })
  res.end(compressed)
}
