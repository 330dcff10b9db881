import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'

/** Raw answers an Ejento API server (or a gateway in front of it) could send, by path. */
const ANSWERS: Record<string, (socket: Socket) => void> = {
  // JSON lines whose first line never completes: the connection closes (FIN) first.
  '/lines-cut': (socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\netag: "v1"\r\ncontent-disposition: attachment; filename="log.ndjson"\r\ncontent-length: 1000\r\n\r\n{"a":'),
  // A 304 has no body by definition; these bytes are a body undici refuses.
  '/not-modified': (socket) => socket.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\netag: "v1"\r\n\r\nhello'),
  '/huge-headers': (socket) => socket.write(`HTTP/1.1 200 OK\r\nx-padding: ${'a'.repeat(100_000)}\r\ncontent-length: 2\r\n\r\n{}`)
}

async function hostileApi (): Promise<string> {
  const server = createServer((socket) => {
    socket.on('error', () => {})
    let head = ''
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      const path = /^\S+ (\S+)/.exec(head)?.[1] ?? ''
      head = ''
      ANSWERS[path]?.(socket)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => { await new Promise((resolve) => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

// A passthrough answer that failed before its first byte reached the browser went to Fastify's
// error handler as a raw undici error: 500 internal_error, with the upstream's headers still on it.
describe('regression: an upstream answer failing before its first byte was a 500', () => {
  it('502 problem JSON without the upstream\'s headers, and the compiled server stays up', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: await hostileApi() })
    const cookie = await realLogin(server.base)

    for (const [path, code] of [['/lines-cut', 'upstream_unavailable'], ['/not-modified', 'upstream_invalid_response'], ['/huge-headers', 'upstream_invalid_response']] as const) {
      const response = await fetch(`${server.base}/proxy/ejento${path}`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })
      expect(response.status, path).toBe(502)
      expect(response.headers.get('content-type'), path).toContain('application/problem+json')
      expect(response.headers.get('etag'), path).toBeNull()
      expect(response.headers.get('content-disposition'), path).toBeNull()
      expect(await response.json(), path).toMatchObject({ status: 502, code })
    }
    expect(await alive(server)).toBe(true)
    expect(server.logs().filter((line) => line.code === 'internal_error')).toEqual([])
  })
})
