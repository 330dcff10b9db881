import { createConnection, createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { onCleanup } from './app.js'
import type { CleanupScope } from './app.js'

/**
 * A loopback TCP proxy a test steers: where new connections go (an address that moves to a new
 * primary, as a managed Redis's DNS name does after a fail-over), and how late what the target
 * sends reaches the client (a replica that lags), or whether it reaches it at all for now.
 */
export interface TcpProxy {
  port: number
  /** New connections go to this port; open ones stay where they are. */
  setTarget: (port: number) => void
  /** What the target sends arrives this much later, in order. */
  setDelay: (ms: number) => void
  /** Holds what the target sends until `release`. */
  hold: () => void
  release: () => void
  /** The connections open now go silent for ever, both ways, without closing (a path that drops packets); new ones work. */
  stallOpen: () => void
  /** How many connections are open. */
  connections: () => number
}

export async function startTcpProxy (targetPort: number, cleanup: CleanupScope = onCleanup): Promise<TcpProxy> {
  let target = targetPort
  let delayMs = 0
  let held = false
  const pumps = new Set<() => void>()
  const sockets = new Set<Socket>()
  const stalls = new Set<() => void>()
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target })
    sockets.add(client).add(upstream)
    const queue: Array<{ at: number, chunk: Buffer }> = []
    let timer: NodeJS.Timeout | undefined
    const pump = (): void => {
      clearTimeout(timer)
      timer = undefined
      if (held) return
      for (let next = queue[0]; next !== undefined && next.at <= Date.now(); next = queue[0]) client.write((queue.shift() as { chunk: Buffer }).chunk)
      if (queue.length > 0) timer = setTimeout(pump, (queue[0] as { at: number }).at - Date.now())
    }
    pumps.add(pump)
    let stalled = false
    const stall = (): void => {
      stalled = true
      client.unpipe(upstream)
      client.pause()
    }
    stalls.add(stall)
    upstream.on('data', (chunk: Buffer) => {
      if (stalled) return
      queue.push({ at: Math.max(Date.now() + delayMs, queue.at(-1)?.at ?? 0), chunk })
      if (timer === undefined) pump()
    })
    client.pipe(upstream)
    const close = (): void => {
      clearTimeout(timer)
      pumps.delete(pump)
      stalls.delete(stall)
      sockets.delete(client)
      sockets.delete(upstream)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', close).on('close', close)
    upstream.on('error', close).on('close', close)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanup(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return {
    port: (server.address() as AddressInfo).port,
    setTarget: (port) => { target = port },
    setDelay: (ms) => { delayMs = ms },
    hold: () => { held = true },
    release: () => {
      held = false
      for (const pump of pumps) pump()
    },
    stallOpen: () => {
      for (const stall of stalls) stall()
      stalls.clear()
    },
    connections: () => sockets.size / 2
  }
}
