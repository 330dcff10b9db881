import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { freePort } from './helpers/ports.js'
import { waitFor } from './helpers/processes.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import { describeWithRedisServer } from './helpers/redis.js'
import { startRedisProcess, tempFolder } from './helpers/redis-process.js'
import { startTcpProxy } from './helpers/tcp-proxy.js'

describeWithRedisServer('regression: a Redis connection that went silent was never dropped', () => {
  // Found attacking issue 14: a path that stops carrying packets without closing (a balancer or
  // NAT that forgot the connection, an address moved to another server) left the client
  // "ready" on a dead socket. Every request waited the command timeout and answered 503 until
  // the kernel gave up on the socket (about 15 minutes), though a new connection worked at once.
  it('the open connection goes silent, new ones work: the instance drops it, connects again and serves the session', { timeout: 60_000 }, async () => {
    const port = await freePort()
    await startRedisProcess({ args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], port, dir: await tempFolder('silent-redis') })
    const path = await startTcpProxy(port)
    const sim = await startSimulator({})
    onCleanup(sim.close)
    const server = await startRealServer(sim, { REDIS_URL: `redis://127.0.0.1:${path.port}` })
    const cookie = await realLogin(server.base)
    const session = async (): Promise<number> => (await fetch(`${server.base}/auth/session`, { headers: { cookie } }).then(async (answer) => { await answer.arrayBuffer(); return answer.status }, () => 0))
    expect(await session()).toBe(200)

    path.stallOpen()
    // Before: 503 store_unavailable for as long as the test waited.
    expect(await waitFor(async () => await session() === 200, 20_000, 250), 'the session never answered again').toBe(true)
    expect(await waitFor(async () => (await fetch(`${server.base}/readyz`)).status === 200, 5000, 100)).toBe(true)
    expect(server.logs().filter((line) => String(line.msg).startsWith('the Redis connection stopped answering'))).toHaveLength(1)
  })
})
