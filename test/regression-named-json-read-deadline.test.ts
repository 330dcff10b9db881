import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onFileCleanup } from './helpers/app.js'
import { PROFILES } from './helpers/profiles.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (outside attack, finding 9): a named route read its upstream's JSON answer with no
 * deadline on the whole body: only the 8 MiB cap and UPSTREAM_BODY_TIMEOUT (300 s) between two
 * chunks bounded it, so an upstream trickling one byte at a time held the request for ever.
 * Now a JSON answer must be whole within UPSTREAM_HEADERS_TIMEOUT of its headers: else 504
 * `upstream_timeout`, and the upstream call is aborted.
 */

/** An Ejento API server that answers every call at once with JSON headers, then one byte every 100 ms, never ending. */
async function tricklingApi (closed: string[]): Promise<string> {
  const timers = new Set<NodeJS.Timeout>()
  const server = createServer((request, response) => {
    request.resume()
    response.writeHead(200, { 'content-type': 'application/json' })
    response.write('{"answer":"')
    const timer = setInterval(() => response.write('x'), 100)
    timers.add(timer)
    response.once('close', () => {
      clearInterval(timer)
      timers.delete(timer)
      closed.push(request.url ?? '')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onFileCleanup(async () => {
    for (const timer of timers) clearInterval(timer)
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe.each(PROFILES)('regression: a named route\'s JSON answer trickled for ever is a 504, on %s', (_name, profile) => {
  let server: RealServer
  let cookie: string
  const closed: string[] = []

  beforeAll(async () => {
    const sim = await startSimulator(profile.sim)
    onFileCleanup(sim.close)
    const apiUrl = await tricklingApi(closed)
    // Body silences stay far below UPSTREAM_BODY_TIMEOUT: only the whole-body deadline can end the read.
    server = await startRealServer({ authUrl: sim.authUrl, apiUrl }, { ...profile.env, UPSTREAM_HEADERS_TIMEOUT: '1s', UPSTREAM_BODY_TIMEOUT: '60s' }, onFileCleanup)
    cookie = await realLogin(server.base)
  })

  it.each([
    ['an answer (POST /api/agents/1/responses)', '/api/agents/1/responses', { user_query: 'Hi', chat_thread_id: 1 }],
    ['a new thread (POST /api/agents/1/chat-threads)', '/api/agents/1/chat-threads', {}]
  ])('%s: 504 upstream_timeout, the upstream call aborted, the server up', async (_label, path, body) => {
    const closedBefore = closed.length
    const response = await fetch(`${server.base}${path}`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000)
    })
    expect(response.status).toBe(504)
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect((await response.json() as { code: string }).code).toBe('upstream_timeout')
    // The BFF let go of the trickling answer.
    await expect.poll(() => closed.length, { timeout: 5_000 }).toBeGreaterThan(closedBefore)
    expect(await alive(server)).toBe(true)
  })
})
