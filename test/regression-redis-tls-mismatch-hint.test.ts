import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { freePort } from './helpers/ports.js'
import { spawnServer, waitFor } from './helpers/processes.js'
import { REAL_SECRET } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { startRedisProcess, tempFolder } from './helpers/redis-process.js'
import { makeCertificates, startTlsRedis } from './helpers/redis-tls.js'

async function unreachableLine (redisUrl: string, extra: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const sim = await startSimulator({})
  onCleanup(sim.close)
  const server = await spawnServer({ HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', EJENTO_AUTH_URL: sim.authUrl, EJENTO_API_URL: sim.apiUrl, SESSION_SECRET: REAL_SECRET, COOKIE_SECURE: 'false', REDIS_URL: redisUrl, ...extra })
  await server.listening()
  const find = (): Record<string, unknown> | undefined => server.logs().find((line) => String(line.msg).startsWith('Redis is unreachable'))
  expect(await waitFor(() => find() !== undefined, 15_000, 50), server.stdout()).toBe(true)
  return find() as Record<string, unknown>
}

describeWithRedisServer('regression: a TLS/plain mismatch had no hint', () => {
  // Found attacking issue 14 (A5): the hint was written for OpenSSL's "wrong version number",
  // which Redis never causes: it closes the connection, and the log said only ECONNRESET.
  it('rediss:// to a Redis that speaks plain TCP: the line names the likely cause', { timeout: 60_000 }, async () => {
    const port = await freePort()
    await startRedisProcess({ args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], port, dir: await tempFolder('plain') })
    const line = await unreachableLine(`rediss://127.0.0.1:${port}`)
    expect(String(line.hint)).toContain('does not speak TLS')
  })

  it('redis:// to a Redis that speaks only TLS: the line names the likely cause', { timeout: 60_000 }, async () => {
    const certificates = await makeCertificates()
    const redis = await startTlsRedis(certificates, 'bff', 'tls-mismatch-password')
    const line = await unreachableLine(`redis://127.0.0.1:${redis.port}`)
    expect(String(line.hint)).toContain('rediss://')
  })
})
