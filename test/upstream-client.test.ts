import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { login, onCleanup, setup } from './helpers/app.js'

const AGENTS = /^\/api\/agents$/
const SSE_CHUNKS = ['event: token\ndata: {"delta":"one "}\n\n', 'event: token\ndata: {"delta":"two "}\n\n', 'event: token\ndata: {"delta":"three"}\n\n']

describe('upstream client', () => {
  it('never forwards hop-by-hop headers, nor a header the Connection header names', async () => {
    const context = await setup()
    const cookie = await login(context)

    const answer = await context.app.inject({
      method: 'GET',
      url: '/proxy/ejento/api/agents',
      headers: {
        cookie,
        connection: 'keep-alive, x-hop-secret',
        'keep-alive': 'timeout=5',
        'x-hop-secret': 'hop-value',
        te: 'trailers',
        trailer: 'x-checksum',
        upgrade: 'websocket',
        'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
        'proxy-connection': 'keep-alive',
        'x-forwarded-for': '203.0.113.9',
        accept: 'application/json'
      }
    })

    expect(answer.statusCode).toBe(200)
    const [seen] = context.sim.requestsTo('api', AGENTS)
    expect(seen).toBeDefined()
    const headers = seen?.headers ?? {}
    for (const name of ['keep-alive', 'x-hop-secret', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection', 'x-forwarded-for', 'cookie']) {
      expect(headers[name], name).toBeUndefined()
    }
    expect(String(headers.connection ?? '')).not.toContain('x-hop-secret')
    expect(JSON.stringify(headers)).not.toContain('hop-value')
    expect(headers.accept).toBe('application/json')
  })

  it('lets a stream stay silent longer than UPSTREAM_HEADERS_TIMEOUT (only UPSTREAM_BODY_TIMEOUT bounds a silence)', async () => {
    const context = await setup({ env: { UPSTREAM_HEADERS_TIMEOUT: '300ms', UPSTREAM_BODY_TIMEOUT: '10s' } })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: AGENTS, status: 200, headers: { 'content-type': 'text/event-stream' }, chunks: SSE_CHUNKS, chunkIntervalMs: 700 })

    const answer = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie, accept: 'text/event-stream' } })

    expect(answer.statusCode).toBe(200)
    expect(answer.body).toBe(SSE_CHUNKS.join(''))
  })

  it('ends a stream that stays silent longer than UPSTREAM_BODY_TIMEOUT, without a hang, and keeps serving', async () => {
    const context = await setup({ env: { UPSTREAM_BODY_TIMEOUT: '400ms' } })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: AGENTS, status: 200, headers: { 'content-type': 'text/event-stream' }, chunks: SSE_CHUNKS, chunkIntervalMs: 3000 })
    const started = Date.now()

    const answer = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie, accept: 'text/event-stream' } })

    expect(Date.now() - started).toBeLessThan(2500)
    expect(answer.body).toContain('"one "')
    expect(answer.body).not.toContain('"two "')
    const next = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
    expect(next.statusCode).toBe(200)
  })

  it('verifies the upstream\'s TLS certificate: a self-signed one is refused with 502 before any request is sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-tls-'))
    onCleanup(async () => { rmSync(dir, { recursive: true, force: true }) })
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
    let requests = 0
    const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      requests++
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true,"data":[]}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onCleanup(async () => { await new Promise((resolve) => server.close(resolve)) })
    const { port } = server.address() as AddressInfo
    const context = await setup({ env: { EJENTO_API_URL: `https://127.0.0.1:${port}` } })
    const cookie = await login(context)

    const answer = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })

    expect(answer.statusCode).toBe(502)
    expect(answer.json()).toMatchObject({ code: 'upstream_unavailable' })
    expect(requests).toBe(0)
  })
})
