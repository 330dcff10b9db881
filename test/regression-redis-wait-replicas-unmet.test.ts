import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { freePort } from './helpers/ports.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { directClient, startRedisProcess, tempFolder } from './helpers/redis-process.js'
import { waitFor } from './helpers/processes.js'

describeWithRedisServer('regression: REDIS_WAIT_REPLICAS larger than the replicas was accepted silently', () => {
  // Found attacking issue 14 (A8): every log-in and refresh then waits REDIS_WAIT_TIMEOUT.
  it('REDIS_WAIT_REPLICAS=2 on a primary with one replica: a warning at start naming both counts; log-ins still work', { timeout: 60_000 }, async () => {
    const primaryPort = await freePort()
    await startRedisProcess({ args: ['--port', String(primaryPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], port: primaryPort, dir: await tempFolder('wait-primary') })
    const replicaPort = await freePort()
    await startRedisProcess({ args: ['--port', String(replicaPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(primaryPort)], port: replicaPort, dir: await tempFolder('wait-replica') })
    const sim = await startSimulator({})
    onCleanup(sim.close)
    const server = await startRealServer(sim, { REDIS_URL: `redis://127.0.0.1:${primaryPort}`, REDIS_WAIT_REPLICAS: '2', REDIS_WAIT_TIMEOUT: '200ms' })
    const warned = (): Array<Record<string, unknown>> => server.logs().filter((line) => String(line.msg).startsWith('REDIS_WAIT_REPLICAS is more than the replicas'))
    expect(await waitFor(() => warned().length > 0, 10_000, 50)).toBe(true)
    await realLogin(server.base)
    expect(warned()).toHaveLength(1)
    expect(warned()[0]).toMatchObject({ level: 40, wanted: 2, timeoutMs: 200 })
    // The replica may still be synchronising: connected is what the primary counted then.
    expect([0, 1]).toContain(warned()[0]?.connected)
  })

  it('REDIS_WAIT_REPLICAS=1 with one replica connected: no such warning', { timeout: 60_000 }, async () => {
    const primaryPort = await freePort()
    await startRedisProcess({ args: ['--port', String(primaryPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], port: primaryPort, dir: await tempFolder('wait-primary') })
    const replicaPort = await freePort()
    await startRedisProcess({ args: ['--port', String(replicaPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(primaryPort)], port: replicaPort, dir: await tempFolder('wait-replica') })
    const primary = directClient({ port: primaryPort })
    expect(await waitFor(async () => (await primary.info('replication')).includes('connected_slaves:1'), 10_000, 50)).toBe(true)
    const sim = await startSimulator({})
    onCleanup(sim.close)
    const server = await startRealServer(sim, { REDIS_URL: `redis://127.0.0.1:${primaryPort}`, REDIS_WAIT_REPLICAS: '1' })
    await realLogin(server.base)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(server.logs().filter((line) => String(line.msg).startsWith('REDIS_WAIT_REPLICAS is more than the replicas'))).toEqual([])
  })
})
