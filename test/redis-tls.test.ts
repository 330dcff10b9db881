import { randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { spawnServer, waitFor } from './helpers/processes.js'
import type { ServerProcess } from './helpers/processes.js'
import { REAL_SECRET, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { directClient, sessionRecords } from './helpers/redis-process.js'
import { makeCertificates, startTlsRedis } from './helpers/redis-tls.js'

const USER = 'bff'
const PASSWORD = `tls-${randomBytes(9).toString('base64url')}`
const CHAT_THREADS = '/api/agents/1/chat-threads'

async function simulator (): Promise<Simulator> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  return sim
}

async function send (base: string, method: string, path: string, cookie?: string): Promise<{ status: number, headers: Headers, json: any }> {
  const answer = await fetch(base + path, { method, headers: cookie === undefined ? {} : { cookie } })
  const text = await answer.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = text }
  return { status: answer.status, headers: answer.headers, json }
}

function logLines (server: ServerProcess, text: string): Array<Record<string, unknown>> {
  return server.logs().filter((line) => typeof line.msg === 'string' && line.msg.includes(text))
}

/** What a process wrote must not hold the Redis password, in any spelling it could take. */
function expectNoPassword (output: string): void {
  expect(output).not.toContain(PASSWORD)
  expect(output).not.toContain(encodeURIComponent(PASSWORD))
}

describeWithRedisServer('Redis over TLS with a password (rediss://, REDIS_TLS_CA)', () => {
  it('a session round trip through the compiled server: log in, call, refresh, log out; all of it in the TLS Redis', async () => {
    const certificates = await makeCertificates()
    const redis = await startTlsRedis(certificates, USER, PASSWORD)
    const sim = await simulator()
    const server: RealServer = await startRealServer(sim, { REDIS_URL: redis.url, REDIS_TLS_CA: certificates.caFile, REDIS_KEY_PREFIX: 'tls-test:' })
    expect((await send(server.base, 'GET', '/readyz')).status).toBe(200)
    // The log names the server, without the user or password.
    expect(logLines(server, 'Redis connection ready')[0]).toMatchObject({ redis: `rediss://***@127.0.0.1:${redis.port}`, server: `127.0.0.1:${redis.port}` })

    const cookie = await realLogin(server.base)
    const direct = directClient({ port: redis.port, tls: { ca: certificates.ca }, username: USER, password: PASSWORD })
    const [record] = [...(await sessionRecords(direct, 'tls-test:')).values()]
    expect(record?.v).toBe('1')

    expect((await send(server.base, 'POST', CHAT_THREADS, cookie)).status).toBe(201)
    expect((await send(server.base, 'POST', '/auth/refresh', cookie)).status).toBeLessThan(300)
    expect(sim.counter('refresh')).toBe(1)
    // The refresh wrote the next version over TLS; a call after it uses the new tokens.
    expect([...(await sessionRecords(direct, 'tls-test:')).values()].map(({ v }) => v)).toEqual(['2'])
    expect((await send(server.base, 'POST', CHAT_THREADS, cookie)).status).toBe(201)
    expect((await send(server.base, 'GET', '/auth/session', cookie)).json).toMatchObject({ authenticated: true })

    expect((await send(server.base, 'POST', '/auth/logout', cookie)).status).toBe(204)
    expect((await send(server.base, 'GET', '/auth/session', cookie)).json).toMatchObject({ authenticated: false })
    expect((await sessionRecords(direct, 'tls-test:')).size).toBe(0)

    // Neither the BFF nor Redis wrote the password anywhere.
    expectNoPassword(server.stdout() + server.stderr())
    expectNoPassword(redis.output())
    expect(logLines(server, 'Redis is unreachable')).toHaveLength(0)
  })

  it('a server whose certificate another CA signed is refused: not ready, 503 store_unavailable with Retry-After, one clear log line', async () => {
    const certificates = await makeCertificates()
    const redis = await startTlsRedis(certificates, USER, PASSWORD)
    const sim = await simulator()
    const server = await spawnServer({
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      EJENTO_AUTH_URL: sim.authUrl,
      EJENTO_API_URL: sim.apiUrl,
      SESSION_SECRET: REAL_SECRET,
      COOKIE_SECURE: 'false',
      REDIS_URL: redis.url,
      REDIS_TLS_CA: certificates.otherCaFile
    })
    const base = await server.listening()
    expect(await waitFor(() => logLines(server, 'Redis is unreachable').length > 0, 10_000, 50)).toBe(true)

    const ready = await send(base, 'GET', '/readyz')
    expect(ready.status).toBe(503)
    const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'demo@example.com', password: 'demo-password' }) })
    expect(login.status).toBe(503)
    expect(login.headers.get('retry-after')).toBe('1')
    expect(await login.json()).toMatchObject({ code: 'store_unavailable' })
    expect(sim.counter('login')).toBe(0)

    // One line, however long it goes on, saying what to fix; the client keeps trying.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const lines = logLines(server, 'Redis is unreachable')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 50, redis: `rediss://***@127.0.0.1:${redis.port}`, code: 'SELF_SIGNED_CERT_IN_CHAIN' })
    expect(lines[0]?.hint).toMatch(/TLS certificate was refused: REDIS_TLS_CA/)
    expectNoPassword(server.stdout() + server.stderr())
    // Redis saw no command: the handshake failed before a password could be sent.
    expectNoPassword(redis.output())
  })

  it('a wrong password: not ready, 503, one line saying the credentials were refused, without them', async () => {
    const certificates = await makeCertificates()
    const redis = await startTlsRedis(certificates, USER, PASSWORD)
    const sim = await simulator()
    const wrong = `${PASSWORD}-wrong`
    const server = await spawnServer({
      HOST: '127.0.0.1',
      PORT: '0',
      EJENTO_AUTH_URL: sim.authUrl,
      EJENTO_API_URL: sim.apiUrl,
      SESSION_SECRET: REAL_SECRET,
      COOKIE_SECURE: 'false',
      REDIS_URL: `rediss://127.0.0.1:${redis.port}`,
      REDIS_USERNAME: USER,
      REDIS_PASSWORD: wrong,
      REDIS_TLS_CA: certificates.caFile
    })
    const base = await server.listening()
    expect(await waitFor(() => logLines(server, 'Redis is unreachable').length > 0, 10_000, 50)).toBe(true)
    expect((await send(base, 'GET', '/readyz')).status).toBe(503)
    const [line] = logLines(server, 'Redis is unreachable')
    expect(line?.hint).toMatch(/refused the credentials/)
    expect(server.stdout() + server.stderr()).not.toContain(wrong)
    expectNoPassword(redis.output())
  })
})
