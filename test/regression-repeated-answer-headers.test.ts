import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (attack on issue 10): undici hands a header sent on two lines over as an array.
 * A repeated Content-Encoding failed every route with 500 internal_error (`encoding.split is
 * not a function`); a repeated Content-Type made the passthrough take a JSON answer for an
 * untyped one and pass it on unsearched, token fields and all.
 */

const TOKEN_FIELD = 'upstream-issued-token-0123456789'
const JSON_WITH_TOKEN = Buffer.from(JSON.stringify({ ok: true, access_token: TOKEN_FIELD }))
const GZIPPED = gzipSync(JSON_WITH_TOKEN)

function answer (status: string, headerLines: string[], body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\n${[...headerLines, `content-length: ${body.length}`].join('\r\n')}\r\n\r\n`, 'latin1'), body])
}

/** Raw answers by the last segment of the path (the named route's `/api/agent/1/chat-thread` is `chat-thread`). */
const ANSWERS: Record<string, Buffer> = {
  // Two lines of one list: `gzip, identity`, that is gzip.
  'encoding-twice': answer('200 OK', ['content-type: application/json', 'content-encoding: gzip', 'content-encoding: identity'], GZIPPED),
  'chat-thread': answer('201 Created', ['content-type: application/json', 'content-encoding: gzip', 'content-encoding: identity'], GZIPPED),
  'type-twice': answer('200 OK', ['content-type: application/json', 'content-type: application/json'], JSON_WITH_TOKEN),
  'types-differ': answer('200 OK', ['content-type: application/json', 'content-type: text/plain'], JSON_WITH_TOKEN)
}

async function hostileApi (): Promise<string> {
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {})
    let head = ''
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      const path = /^\S+ (\S+)/.exec(head)?.[1] ?? ''
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head.slice(0, end))?.[1] ?? 0)
      if (head.length < end + 4 + length) return
      head = ''
      socket.write(ANSWERS[path.split('/').pop() ?? ''] ?? answer('404 Not Found', [], Buffer.alloc(0)))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => { await new Promise((resolve) => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Calls under way to the Ejento API server, as the metrics see them. */
async function ejentoCallsRunning (server: RealServer): Promise<number> {
  const text = await (await fetch(`${server.base}/metrics`)).text()
  return Number(/^ejento_bff_upstream_pool_running\{upstream="ejento"\} (\d+)/m.exec(text)?.[1] ?? Number.NaN)
}

describe('regression: an upstream header sent on two lines', () => {
  it('a repeated Content-Encoding is one list: decoded and cleaned on the passthrough and a named route, not a 500', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: await hostileApi() })
    const cookie = await realLogin(server.base)

    const passthrough = await fetch(`${server.base}/proxy/ejento/api/encoding-twice`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    const named = await fetch(`${server.base}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    expect(passthrough.status).toBe(200)
    expect(named.status).toBe(201)
    for (const response of [passthrough, named]) {
      expect(response.headers.get('content-encoding')).toBeNull()
      expect(await response.json()).toEqual({ ok: true })
    }
    expect(await waitFor(async () => await ejentoCallsRunning(server) === 0, 5000)).toBe(true)
    expect(await alive(server)).toBe(true)
    expect(server.logs().filter((line) => line.code === 'internal_error')).toEqual([])
  })

  it('a Content-Type repeated as it is stays JSON and is searched; two different ones are a 502', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: await hostileApi() })
    const cookie = await realLogin(server.base)

    const repeated = await fetch(`${server.base}/proxy/ejento/api/type-twice`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    expect(repeated.status).toBe(200)
    expect(repeated.headers.get('content-type')).toBe('application/json')
    const body = await repeated.text()
    expect(body).not.toContain(TOKEN_FIELD)
    expect(JSON.parse(body)).toEqual({ ok: true })

    const differing = await fetch(`${server.base}/proxy/ejento/api/types-differ`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    expect(differing.status).toBe(502)
    expect(differing.headers.get('content-type')).toContain('application/problem+json')
    const problem = await differing.text()
    expect(JSON.parse(problem)).toMatchObject({ status: 502, code: 'upstream_invalid_response' })
    expect(problem).not.toContain(TOKEN_FIELD)

    expect(await waitFor(async () => await ejentoCallsRunning(server) === 0, 5000)).toBe(true)
    expect(await alive(server)).toBe(true)
  })
})
