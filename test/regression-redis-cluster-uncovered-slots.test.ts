import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { startRealServer } from './helpers/real-server.js'
import { describeWithRedisServer, redisCliBinary } from './helpers/redis.js'
import { startRedisCluster } from './helpers/redis-cluster.js'

const describeWithCli = redisCliBinary ? describeWithRedisServer : describeWithRedisServer.skip

async function readyStatus (base: string): Promise<number> {
  return await fetch(`${base}/readyz`).then(async (answer) => { await answer.arrayBuffer(); return answer.status }, () => 0)
}

describeWithCli('regression: a Redis Cluster with slots no primary serves was silent', () => {
  // Found attacking issue 14 (A3): no line outside the failing requests, and /readyz named no reason.
  it('slots unassigned on every node: one warning outside any request naming the state and the count, /readyz 503; the slots back: an info line and ready again', { timeout: 120_000 }, async () => {
    const cluster = await startRedisCluster({ replicas: false })
    const sim = await startSimulator({})
    onCleanup(sim.close)
    const server = await startRealServer(sim, cluster.env)
    expect(await waitFor(async () => await readyStatus(server.base) === 200, 15_000, 100)).toBe(true)

    const [owner] = await cluster.primaries()
    const [first, last] = owner?.slots[0] as [number, number]
    const end = Math.min(last, first + 99)
    for (const node of cluster.nodes) await cluster.direct(node.port).call('CLUSTER', 'DELSLOTSRANGE', first, end).catch(() => {})

    const warned = (): Array<Record<string, unknown>> => server.logs().filter((line) => String(line.msg).startsWith('the Redis Cluster does not serve every hash slot'))
    expect(await waitFor(() => warned().length > 0, 30_000, 100), server.stdout()).toBe(true)
    // The nodes' state turns to fail at once; the client's slot map shows the gap at its next refresh.
    expect(warned()[0]).toMatchObject({ level: 40 })
    expect(warned()[0]?.clusterState === 'fail' || warned()[0]?.uncoveredSlots === end - first + 1, JSON.stringify(warned()[0])).toBe(true)
    expect(warned()[0]?.reqId).toBeUndefined()
    expect(await waitFor(async () => await readyStatus(server.base) === 503, 10_000, 100)).toBe(true)

    await cluster.direct(owner?.port as number).call('CLUSTER', 'ADDSLOTSRANGE', first, end)
    expect(await waitFor(() => server.logs().some((line) => line.msg === 'the Redis Cluster serves every hash slot again'), 30_000, 100), server.stdout()).toBe(true)
    expect(await waitFor(async () => await readyStatus(server.base) === 200, 15_000, 100)).toBe(true)
    expect(warned()).toHaveLength(1)
  })
})
