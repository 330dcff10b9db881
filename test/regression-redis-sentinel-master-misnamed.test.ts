import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { freePort } from './helpers/ports.js'
import { spawnServer, waitFor } from './helpers/processes.js'
import type { ServerProcess } from './helpers/processes.js'
import { REAL_SECRET } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { directClient, startRedisProcess, tempFolder } from './helpers/redis-process.js'
import type { RedisProcess } from './helpers/redis-process.js'

const NAME = 'bff-sessions'

async function redisServer (extra: string[] = []): Promise<RedisProcess> {
  const port = await freePort()
  return await startRedisProcess({ args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], port, dir: await tempFolder('misnamed') })
}

/** One sentinel watching `port` as the primary of NAME. */
async function sentinelWatching (port: number): Promise<RedisProcess> {
  const sentinelPort = await freePort()
  const dir = await tempFolder('misnamed-sentinel')
  await writeFile(join(dir, 'sentinel.conf'), ['bind 127.0.0.1', `port ${sentinelPort}`, `sentinel monitor ${NAME} 127.0.0.1 ${port} 1`, `sentinel down-after-milliseconds ${NAME} 60000`, ''].join('\n'))
  return await startRedisProcess({ args: [join(dir, 'sentinel.conf'), '--sentinel'], port: sentinelPort, dir })
}

async function bff (sentinelPort: number, masterName: string): Promise<ServerProcess> {
  const sim = await startSimulator({})
  onCleanup(sim.close)
  const server = await spawnServer({ HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', EJENTO_AUTH_URL: sim.authUrl, EJENTO_API_URL: sim.apiUrl, SESSION_SECRET: REAL_SECRET, COOKIE_SECURE: 'false', REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`, REDIS_SENTINEL_MASTER: masterName })
  await server.listening()
  return server
}

function linesStarting (server: ServerProcess, text: string): Array<Record<string, unknown>> {
  return server.logs().filter((line) => String(line.msg).startsWith(text))
}

describeWithRedisServer('regression: a misnamed Sentinel master was silent', () => {
  // Found attacking issue 14 (A4): a REDIS_SENTINEL_MASTER the sentinels do not know logged
  // only "All sentinels are unreachable", and sentinels naming a replica logged nothing at all.
  it('a REDIS_SENTINEL_MASTER the sentinels do not know: one warning naming the variable, and the outage line says so', { timeout: 60_000 }, async () => {
    const primary = await redisServer()
    const sentinel = await sentinelWatching(primary.port)
    const server = await bff(sentinel.port, 'bff-sesions')
    expect(await waitFor(() => linesStarting(server, 'Redis is unreachable').length > 0, 15_000, 50), server.stdout()).toBe(true)
    const warned = linesStarting(server, 'the sentinels answer but none knows a master set named "bff-sesions"')
    expect(warned).toHaveLength(1)
    expect(warned[0]).toMatchObject({ level: 40, masterName: 'bff-sesions' })
    expect(String(linesStarting(server, 'Redis is unreachable')[0]?.hint)).toContain('REDIS_SENTINEL_MASTER')
  })

  it('sentinels that name a replica as the primary: one warning naming that server', { timeout: 60_000 }, async () => {
    const primary = await redisServer()
    const replica = await redisServer(['--replicaof', '127.0.0.1', String(primary.port)])
    const replicaClient = directClient({ port: replica.port })
    expect(await waitFor(async () => (await replicaClient.info('replication')).includes('master_link_status:up'), 10_000, 50)).toBe(true)
    const sentinel = await sentinelWatching(replica.port)
    const server = await bff(sentinel.port, NAME)
    const warned = (): Array<Record<string, unknown>> => linesStarting(server, `the server the sentinels name as the primary of "${NAME}" does not act as one`)
    expect(await waitFor(() => warned().length > 0, 20_000, 50), server.stdout()).toBe(true)
    expect(warned()[0]).toMatchObject({ level: 40, server: `127.0.0.1:${replica.port}` })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(warned()).toHaveLength(1)
  })
})
