import { randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import { RedisSessionStore } from '../src/session/redis-store.js'
import { ADMIN, DEMO, onCleanup } from './helpers/app.js'
import type { Cluster, Redis } from 'ioredis'
import { call, cluster, describeOnRedis, dumpKeys, loginOver, testPrefix, waitUntil } from './helpers/redis.js'
import type { RedisDeployment } from './helpers/redis.js'
import { monitorRedis } from './helpers/redis-monitor.js'
import { directClient } from './helpers/redis-process.js'
import type { MonitoredCommand } from './helpers/redis-monitor.js'

const HOUR = 3_600_000
const CHAT_THREADS = '/api/agents/1/chat-threads'

function newStore (prefix: string, redis: Redis | Cluster): RedisSessionStore {
  return new RedisSessionStore(redis, { prefix, secrets: [randomBytes(32).toString('base64url')], ownerIndexTtlMs: HOUR })
}

function newId (): string {
  return randomBytes(24).toString('base64url')
}

/** The session keys under a prefix (what a log-in wrote), on every primary. */
async function sessionKeys (redis: RedisDeployment, prefix: string): Promise<string[]> {
  return (await dumpKeys(redis, `${prefix}session:*`)).map((entry) => entry.key)
}

async function onlySessionKey (redis: RedisDeployment, prefix: string): Promise<string> {
  const keys = await sessionKeys(redis, prefix)
  expect(keys).toHaveLength(1)
  return keys[0] as string
}

describeOnRedis('RedisSessionStore on a real Redis', (redis) => {
  it('creates and reads a session; the record lives in one hash under the prefix', async () => {
    const prefix = testPrefix()
    const store = newStore(prefix, redis.client())
    const id = newId()
    expect(await store.get(id)).toBeNull()

    const before = Date.now()
    expect(await store.create(id, 'owner-1', 'encrypted-1', 60_000)).toBe(1)
    const stored = await store.get(id)
    expect(stored).toMatchObject({ data: 'encrypted-1', version: 1 })
    expect(stored?.expiresAt).toBeGreaterThanOrEqual(before + 60_000)
    expect(stored?.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000)
    expect(await store.get(newId())).toBeNull()

    const keys = (await dumpKeys(redis, `${prefix}*`)).map((entry) => entry.key).sort()
    expect(keys).toHaveLength(2)
    expect(keys[1]).toBe(redis.sessionKey(prefix, id))
    expect(keys[0]).toMatch(new RegExp(`^${prefix}owner-sessions:`))
  })

  it('update is a compare-and-set on the version: the right version writes and bumps it, a wrong one answers null and writes nothing', async () => {
    const store = newStore(testPrefix(), redis.client())
    const id = newId()
    await store.create(id, 'owner-1', 'v1', 60_000)

    expect(await store.update(id, 1, 'v2', 60_000)).toBe(2)
    expect(await store.get(id)).toMatchObject({ data: 'v2', version: 2 })

    // A stale writer (it read version 1) loses; so does a writer from the future.
    expect(await store.update(id, 1, 'stale', 60_000)).toBeNull()
    expect(await store.update(id, 7, 'future', 60_000)).toBeNull()
    expect(await store.get(id)).toMatchObject({ data: 'v2', version: 2 })

    expect(await store.update(id, 2, 'v3', 60_000)).toBe(3)
    expect(await store.get(id)).toMatchObject({ data: 'v3', version: 3 })
  })

  it('after destroy a session is gone for good: get, update and touch never revive it', async () => {
    const prefix = testPrefix()
    const client = redis.client()
    const store = newStore(prefix, client)
    const id = newId()
    await store.create(id, 'owner-1', 'v1', 60_000)
    await store.destroy(id)

    expect(await store.get(id)).toBeNull()
    expect(await store.update(id, 1, 'revived', 60_000)).toBeNull()
    expect(await store.touch(id, 60_000)).toBe(false)
    expect(await store.get(id)).toBeNull()
    expect(await client.exists(redis.sessionKey(prefix, id))).toBe(0)
    // Destroying again is harmless.
    await store.destroy(id)
    // Nothing is left under the prefix: no session, and the owner index lost its only member.
    expect(await dumpKeys(redis, `${prefix}*`)).toEqual([])
  })

  it('sets the TTL in Redis to the lifetime given; update and touch set it again', async () => {
    const prefix = testPrefix()
    const client = redis.client()
    const store = newStore(prefix, client)
    const id = newId()
    const key = redis.sessionKey(prefix, id)

    await store.create(id, 'owner-1', 'v1', 60_000)
    let pttl = await client.pttl(key)
    expect(pttl).toBeGreaterThan(55_000)
    expect(pttl).toBeLessThanOrEqual(60_000)

    await store.update(id, 1, 'v2', 30_000)
    pttl = await client.pttl(key)
    expect(pttl).toBeGreaterThan(25_000)
    expect(pttl).toBeLessThanOrEqual(30_000)

    const before = Date.now()
    expect(await store.touch(id, 120_000)).toBe(true)
    pttl = await client.pttl(key)
    expect(pttl).toBeGreaterThan(115_000)
    expect(pttl).toBeLessThanOrEqual(120_000)
    // Touch extends the expiry without rewriting the record or its version.
    const touched = await store.get(id)
    expect(touched).toMatchObject({ data: 'v2', version: 2 })
    expect(touched?.expiresAt).toBeGreaterThanOrEqual(before + 120_000)
    expect(touched?.expiresAt).toBeLessThanOrEqual(Date.now() + 120_000)

    // The owner index lives as long as configured (the absolute lifetime).
    const ownerKey = (await dumpKeys(redis, `${prefix}owner-sessions:*`))[0]?.key as string
    const ownerTtl = await client.pttl(ownerKey)
    expect(ownerTtl).toBeGreaterThan(HOUR - 10_000)
    expect(ownerTtl).toBeLessThanOrEqual(HOUR)
  })

  it('a session whose TTL ran out is gone (Redis expires it)', async () => {
    const store = newStore(testPrefix(), redis.client())
    const id = newId()
    await store.create(id, 'owner-1', 'v1', 150)
    expect(await store.get(id)).not.toBeNull()
    await waitUntil(async () => await store.get(id) === null, 5000, 'the session never expired')
    expect(await store.update(id, 1, 'revived', 60_000)).toBeNull()
    expect(await store.touch(id, 60_000)).toBe(false)
  })

  it('destroyOwner ends every session of one owner and no other', async () => {
    const prefix = testPrefix()
    const store = newStore(prefix, redis.client())
    const [first, second, other] = [newId(), newId(), newId()]
    await store.create(first, 'owner-1', 'a', 60_000)
    await store.create(second, 'owner-1', 'b', 60_000)
    await store.create(other, 'owner-2', 'c', 60_000)

    expect(await store.destroyOwner('owner-1')).toBe(2)
    expect(await store.get(first)).toBeNull()
    expect(await store.get(second)).toBeNull()
    expect(await store.get(other)).toMatchObject({ data: 'c', version: 1 })
    expect(await store.destroyOwner('owner-1')).toBe(0)
    // A session the owner index still names but that already ended is not counted.
    const late = newId()
    await store.create(late, 'owner-2', 'd', 60_000)
    await store.destroy(other)
    expect(await store.destroyOwner('owner-2')).toBe(1)
    expect(await store.get(late)).toBeNull()
  })

  it('keeps no email in any key or value: owners are hashed', async () => {
    const prefix = testPrefix()
    const store = newStore(prefix, redis.client())
    await store.create(newId(), 'email:alice@example.com', 'opaque', 60_000)
    await store.create(newId(), 'email:alice@example.com', 'opaque', 60_000)
    const dump = await dumpKeys(redis, `${prefix}*`)
    expect(dump.filter((entry) => entry.key.startsWith(`${prefix}owner-sessions:`))).toHaveLength(1)
    const text = JSON.stringify(dump)
    expect(text).not.toContain('alice')
    expect(text).not.toContain('example.com')
    expect(await store.destroyOwner('email:alice@example.com')).toBe(2)
  })

  it('ping answers while Redis is up', async () => {
    await expect(newStore(testPrefix(), redis.client()).ping()).resolves.toBeUndefined()
  })
})

describeOnRedis('what real log-ins keep in Redis', (redis) => {
  it('a dump of every key after log-ins, calls, a refresh and a failed log-in shows no token, no password and no email', async () => {
    const { sim, a, b, prefix } = await cluster({ redis })
    const demo = await loginOver(a, DEMO)
    const admin = await loginOver(b, ADMIN)
    expect((await call(b, 'POST', CHAT_THREADS, { cookie: demo })).status).toBe(201)
    expect((await call(a, 'GET', '/api/users', { cookie: admin })).status).toBe(200)
    expect((await call(a, 'POST', '/auth/refresh', { cookie: demo })).status).toBe(204)
    const wrongPassword = 'wrong-password-for-dump'
    expect((await call(b, 'POST', '/auth/login', { json: { email: ADMIN.email, password: wrongPassword } })).status).toBe(401)
    expect(sim.state.issuedTokens.length).toBeGreaterThanOrEqual(6)

    const dump = await dumpKeys(redis, `${prefix}*`)
    expect(dump.filter((entry) => entry.key.startsWith(`${prefix}session:`))).toHaveLength(2)
    expect(dump.filter((entry) => entry.key.includes('rate-limit')).length).toBeGreaterThan(0)
    const text = dump.map((entry) => `${entry.key}\n${entry.value}`).join('\n')
    for (const token of sim.state.issuedTokens) {
      expect(text.includes(token), 'an upstream token is in Redis').toBe(false)
      // Not even the payload or the signature of a JWT.
      for (const part of token.split('.').slice(1).filter((segment) => segment.length >= 16)) {
        expect(text.includes(part), 'part of an upstream token is in Redis').toBe(false)
      }
    }
    for (const secret of [DEMO.password, ADMIN.password, wrongPassword, DEMO.email, ADMIN.email, 'example.com']) {
      expect(text.toLowerCase().includes(secret.toLowerCase()), `"${secret}" is in Redis`).toBe(false)
    }
  })
})

describeOnRedis('refreshes and log-outs racing across instances', (redis) => {
  it('a log-out on B during a refresh on A wins: the refresh does not write the session back', async () => {
    // The upstream holds the refresh for 1 s: time enough for B's log-out even on a busy machine.
    const { sim, a, b, prefix } = await cluster({ redis, sim: { strictRotation: true, refreshDelayMs: 1000 } })
    const cookie = await loginOver(a, DEMO)
    await onlySessionKey(redis, prefix)
    sim.expireTokens('ejento')

    // A's call is refused upstream, so A refreshes; the refresh takes 1 s upstream.
    const pending = call(a, 'POST', CHAT_THREADS, { cookie })
    await waitUntil(() => sim.counter('refresh') === 1, 5000, 'A never started the refresh', 5)
    const logout = await call(b, 'POST', '/auth/logout', { cookie })
    expect(logout.status).toBe(204)
    expect(sim.counter('refresh')).toBe(1)
    // The race this test is about: B's log-out ended before the upstream answered A's refresh.
    expect(sim.requestsTo('auth', /refresh-access-token$/)[0]?.completed, 'the refresh was still held upstream when the log-out ended').toBe(false)
    const answer = await pending

    // The refresh found the session gone and wrote nothing: A's call is not authenticated.
    expect(answer.status).toBe(401)
    expect(answer.json).toMatchObject({ code: 'not_authenticated' })
    expect(sim.counter('chat_thread')).toBe(0)
    expect(await sessionKeys(redis, prefix)).toEqual([])
    expect(await dumpKeys(redis, `${prefix}refresh-lock:*`)).toEqual([])
    for (const instance of [a, b]) {
      expect((await call(instance, 'GET', '/auth/session', { cookie })).json).toEqual({ authenticated: false })
      const after = await call(instance, 'POST', CHAT_THREADS, { cookie })
      expect(after.status).toBe(401)
      expect(after.json).toMatchObject({ code: 'not_authenticated' })
    }
    // Still nothing in Redis after those calls.
    expect(await sessionKeys(redis, prefix)).toEqual([])
  })

  it('two concurrent POST /auth/refresh on A and B: one upstream refresh, both 204, the version grows by exactly one', async () => {
    const { sim, a, b, prefix } = await cluster({ redis, sim: { strictRotation: true, refreshDelayMs: 500 } })
    const cookie = await loginOver(a, DEMO)
    const client = redis.client()
    const key = await onlySessionKey(redis, prefix)
    expect(await client.hget(key, 'v')).toBe('1')

    const [onA, onB] = await Promise.all([call(a, 'POST', '/auth/refresh', { cookie }), call(b, 'POST', '/auth/refresh', { cookie })])
    expect([onA.status, onB.status]).toEqual([204, 204])
    expect(sim.counter('refresh')).toBe(1)
    expect(sim.counter('refresh_refused')).toBe(0)
    expect(await client.hget(key, 'v')).toBe('2')

    // The new tokens work on both; one more refresh bumps the version by one again.
    expect((await call(b, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    expect((await call(a, 'POST', '/auth/refresh', { cookie })).status).toBe(204)
    expect(sim.counter('refresh')).toBe(2)
    expect(await client.hget(key, 'v')).toBe('3')
    expect((await call(a, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    expect(await client.hget(key, 'v')).toBe('3')
    expect(await sessionKeys(redis, prefix)).toEqual([key])
  })
})

describeOnRedis('Redis round trips per proxied request', (redis) => {
  it('in steady state each proxied request costs one HMGET on its session key and no write (the instance heartbeat aside)', async () => {
    const { a, prefix } = await cluster({ redis })
    const loggedInAt = Date.now()
    const cookie = await loginOver(a, DEMO)
    const key = await onlySessionKey(redis, prefix)
    expect((await call(a, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)

    const seen: MonitoredCommand[] = []
    // Each instance's liveness heartbeat (`instance:<id>`, once a second) is not a request's cost.
    // On a cluster each primary is watched: a request may only go to the one holding its session.
    const primaries = await redis.primaries()
    for (const primary of primaries) {
      const monitor = monitorRedis(primary, (command) => {
        if (command.args.some((arg) => arg.includes(prefix)) && !command.args.some((arg) => arg.startsWith(`${prefix}instance:`))) seen.push(command)
      })
      onCleanup(async () => { monitor.close() })
      await monitor.ready
    }
    // A marker command to each primary through another connection: once every MONITOR showed
    // it, they show everything after it.
    const markers = primaries.map((primary) => directClient(primary))
    const mark = async (name: string): Promise<void> => {
      for (const marker of markers) await marker.echo(`${prefix}marker:${name}`)
      await waitUntil(() => seen.filter((entry) => entry.args.includes(`${prefix}marker:${name}`)).length === markers.length, 5000, `MONITOR never showed marker ${name}`)
    }
    await mark('start')
    const start = seen.length

    for (let index = 0; index < 20; index++) {
      expect((await call(a, 'POST', CHAT_THREADS, { cookie })).status).toBe(201)
    }
    await mark('end')

    const during = seen.slice(start).filter((entry) => !entry.args.some((arg) => arg.startsWith(`${prefix}marker:`)))
    const reads = during.filter((entry) => entry.command === 'hmget')
    expect(reads).toHaveLength(20)
    for (const read of reads) expect(read.args[1]).toBe(key)
    // Anything else is a write: a client command (EVALSHA, HSET, DEL...) or a command a script ran.
    const roundTripWrites = during.filter((entry) => entry.command !== 'hmget' && entry.source !== 'lua')
    const scriptCommands = during.filter((entry) => entry.source === 'lua')
    // A touch (idle timeout extension) is due at most once a minute per session (the default
    // idle timeout is an hour), so one can only have happened when this run took longer than that.
    const touchWasPossible = Date.now() - loggedInAt >= 60_000
    const shown = JSON.stringify(during.filter((entry) => entry.command !== 'hmget').map((entry) => [entry.source, ...entry.args.slice(0, 2)]))
    expect(roundTripWrites.length, `unexpected writes: ${shown}`).toBeLessThanOrEqual(touchWasPossible ? 1 : 0)
    if (!touchWasPossible) expect(scriptCommands, `unexpected script commands: ${shown}`).toEqual([])
  })
})
