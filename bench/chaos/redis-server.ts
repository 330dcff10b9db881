import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killOnExit } from './children.js'
import { freePort } from './ports.js'

/** A redis-server of the chaos run's own: the shared one on 6379 is never paused. */
export interface ChaosRedis {
  url: string
  /** Freezes the server (SIGSTOP): connections stay open and every command hangs, as on a stalled host. */
  pause: () => void
  resume: () => void
  stop: () => Promise<void>
}

/** Starts redis-server on a free loopback port, without persistence (the run is thrown away). */
export async function startChaosRedis (): Promise<ChaosRedis> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'bff-chaos-redis-'))
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  killOnExit(server)
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()))
  server.once('error', () => {})
  if (!await answersPing(port, server, 10_000)) {
    server.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
    throw new Error(`redis-server did not start on port ${port} (is redis-server installed?)`)
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pause: () => { server.kill('SIGSTOP') },
    resume: () => { server.kill('SIGCONT') },
    stop: async () => {
      if (server.exitCode === null && server.signalCode === null) {
        server.kill('SIGCONT')
        server.kill('SIGKILL')
        await exited
      }
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** Polls with a raw PING (no client library: nothing to configure, nothing left reconnecting). */
async function answersPing (port: number, server: ChildProcess, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs
  while (Date.now() < deadline && server.exitCode === null) {
    const pong = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' })
      socket.setTimeout(500, () => { socket.destroy(); resolve(false) })
      socket.once('error', () => resolve(false))
      socket.once('connect', () => socket.write('PING\r\n'))
      socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')) })
    })
    if (pong) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}
