import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { onCleanup } from './helpers/app.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import { sleep } from './helpers/app.js'
import { startSimulator } from '../src/simulator/index.js'

/** An Ejento API server that answers every call with 500 and a body. */
async function failingApi (): Promise<string> {
  const server = createServer((_request, response) => {
    response.writeHead(500, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ success: false, message: 'Internal Server Error '.repeat(200) }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => { await new Promise((resolve) => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

// Destroying an unread undici body emits RequestAbortedError; with no listener, the process died.
describe('regression: an upstream 5xx killed the process', () => {
  for (const [route, method] of [['/api/agents/1/chat-threads', 'POST'], ['/proxy/ejento/api/agents', 'GET']] as const) {
    it(`${method} ${route}: 502 upstream_error, and the compiled server stays up`, async () => {
      const sim = await startSimulator()
      onCleanup(sim.close)
      const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: await failingApi() })
      const cookie = await realLogin(server.base)
      for (let round = 0; round < 3; round++) {
        const response = await fetch(`${server.base}${route}`, { method, headers: { cookie, 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) })
        expect(response.status).toBe(502)
        expect(response.headers.get('content-type')).toContain('application/problem+json')
        expect(await response.json()).toMatchObject({ code: 'upstream_error' })
      }
      await sleep(200)
      expect(await alive(server)).toBe(true)
      expect(server.stderr()).not.toContain('Unhandled')
    })
  }
})
