import { createServer, connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import { realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'
import { REDIS_URL, describeWithRedis, redisClient, testPrefix } from './helpers/redis.js'

/**
 * Regression (attack on issue 16): a refresh's announcement (`refresh-intent:<session>`) that
 * its instance never concluded made every other instance answer that session 503
 * refresh_pending for as long as the announcing instance lived (up to SESSION_MAX_AGE), unless
 * the user happened to come back through that very instance:
 * - the announcement's SET timed out on a slow Redis (2 s) yet landed, and the error left it
 *   there, although no call had gone upstream;
 * - a refused refresh whose next store command failed left it there, the session kept.
 */

type Verdict = 'forward' | 'hold' | 'fail'

interface CommandFilter {
  /** Decides for each command (its arguments as text) from one client. */
  decide: (args: string[]) => Verdict
}

/**
 * A TCP proxy in front of Redis that reads the clients' commands (RESP arrays) and can hold one
 * (with everything after it, order kept) for `holdMs`, or fail one: it is replaced by a command
 * Redis refuses, so the error reply comes back in its place, in order.
 */
async function commandProxy (filter: CommandFilter, holdMs: number): Promise<string> {
  const { hostname, port } = new URL(REDIS_URL)
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const redis = connect(Number(port), hostname)
    for (const socket of [client, redis]) {
      sockets.add(socket)
      socket.on('error', () => { client.destroy(); redis.destroy() })
      socket.on('close', () => { sockets.delete(socket); client.destroy(); redis.destroy() })
    }
    redis.on('data', (chunk: Buffer) => client.write(chunk))
    let pending = Buffer.alloc(0)
    let heldUntil = 0
    const send = (bytes: Buffer): void => {
      const wait = heldUntil - Date.now()
      if (wait <= 0) redis.write(bytes)
      else setTimeout(() => redis.write(bytes), wait)
    }
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      for (let command = parseCommand(pending); command !== undefined; command = parseCommand(pending)) {
        pending = pending.subarray(command.length)
        const verdict = filter.decide(command.args)
        if (verdict === 'hold') heldUntil = Date.now() + holdMs
        send(verdict === 'fail' ? Buffer.from('*1\r\n$21\r\nINJECTED-FAILURE-HERE\r\n') : command.bytes)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return `redis://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** One complete RESP command at the start of `bytes` (ioredis sends arrays of bulk strings), or undefined. */
function parseCommand (bytes: Buffer): { args: string[], bytes: Buffer, length: number } | undefined {
  let at = bytes.indexOf('\r\n')
  if (at === -1 || bytes[0] !== 0x2a) return undefined
  const count = Number(bytes.subarray(1, at).toString('latin1'))
  const args: string[] = []
  at += 2
  for (let index = 0; index < count; index++) {
    const lineEnd = bytes.indexOf('\r\n', at)
    if (lineEnd === -1) return undefined
    const size = Number(bytes.subarray(at + 1, lineEnd).toString('latin1'))
    if (bytes.length < lineEnd + 2 + size + 2) return undefined
    args.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size).toString('latin1'))
    at = lineEnd + 2 + size + 2
  }
  return { args, bytes: bytes.subarray(0, at), length: at }
}

const isAnnouncement = (args: string[]): boolean => args[0]?.toLowerCase() === 'set' && args[1]?.includes('refresh-intent:') === true

/** Both instances answer /readyz (their Redis, through a proxy or not, is connected). */
async function ready (...servers: RealServer[]): Promise<void> {
  for (const server of servers) {
    expect(await waitFor(async () => (await fetch(`${server.base}/readyz`)).status === 200, 10_000, 100)).toBe(true)
  }
}

/** Polls B's refresh until it is no longer 503 refresh_pending (or `ms` passes); answers the last status and code. */
async function refreshOn (server: RealServer, cookie: string, ms: number): Promise<{ status: number, code: string | undefined }> {
  let last = { status: 0, code: undefined as string | undefined }
  await waitFor(async () => {
    const response = await fetch(`${server.base}/auth/refresh`, { method: 'POST', headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    const text = await response.text()
    last = { status: response.status, code: text === '' ? undefined : (JSON.parse(text) as { code?: string }).code }
    return last.code !== 'refresh_pending'
  }, ms, 250)
  return last
}

describeWithRedis('regression: an announcement never concluded while its instance lives (refresh_pending wedge)', () => {
  it('an announcement whose SET timed out but landed is concluded: the other instance refreshes', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const prefix = testPrefix()
    let armed = false
    const slowRedis = await commandProxy({
      decide: (args) => {
        if (!armed || !isAnnouncement(args)) return 'forward'
        armed = false
        return 'hold'
      }
    }, 2600)
    const env = { REDIS_KEY_PREFIX: prefix }
    const [a, b] = await Promise.all([
      startRealServer(sim, { ...env, REDIS_URL: slowRedis }),
      startRealServer(sim, { ...env, REDIS_URL })
    ])
    await ready(a, b)
    const cookie = await realLogin(a.base)

    armed = true
    const onA = await fetch(`${a.base}/auth/refresh`, { method: 'POST', headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    // Redis took longer than the 2 s command timeout: nothing went upstream.
    expect(onA.status).toBe(503)
    expect((await onA.json() as { code: string }).code).toBe('store_unavailable')
    expect(sim.requestsTo('auth', /refresh-access-token/)).toHaveLength(0)

    // The late SET landed; B must not wait for A, which lives on and spent nothing.
    expect(await refreshOn(b, cookie, 8000)).toEqual({ status: 204, code: undefined })
    expect(await redisClient().keys(`${prefix}refresh-intent:*`)).toEqual([])
  })

  it('a refused refresh whose next store command failed concludes its announcement', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const prefix = testPrefix()
    let stage: 'idle' | 'armed' | 'announced' = 'idle'
    const flakyRedis = await commandProxy({
      decide: (args) => {
        if (stage === 'armed' && isAnnouncement(args)) stage = 'announced'
        else if (stage === 'announced' && args[0]?.toLowerCase() === 'hmget') {
          stage = 'idle'
          return 'fail'
        }
        return 'forward'
      }
    }, 0)
    const env = { REDIS_KEY_PREFIX: prefix }
    const [a, b] = await Promise.all([
      startRealServer(sim, { ...env, REDIS_URL: flakyRedis }),
      startRealServer(sim, { ...env, REDIS_URL })
    ])
    await ready(a, b)
    const cookie = await realLogin(a.base)

    // Ejento refuses the refresh; re-reading the session to decide what that means fails.
    sim.inject({ upstream: 'auth', path: /refresh-access-token/, status: 401, body: { detail: 'Could not validate credentials' } })
    stage = 'armed'
    const onA = await fetch(`${a.base}/auth/refresh`, { method: 'POST', headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    expect(onA.status).toBe(503)
    expect((await onA.json() as { code: string }).code).toBe('store_unavailable')
    expect(stage).toBe('idle')

    // B tries the token itself (the simulator, past its one refusal, takes it) instead of waiting on A forever.
    expect(await refreshOn(b, cookie, 8000)).toEqual({ status: 204, code: undefined })
    expect(await redisClient().keys(`${prefix}refresh-intent:*`)).toEqual([])
  })
})
