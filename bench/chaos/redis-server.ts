import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killOnExit, removeOnExit } from './on-exit.js'
import { freePort } from './ports.js'

/** A redis-server of the chaos run's own: the shared one on 6379 is never paused or killed. */
export interface ChaosRedis {
  url: string
  /** Freezes the server (SIGSTOP): connections stay open, commands wait in them and run on `resume`. */
  pause: () => void
  resume: () => void
  /** Kills the server (SIGKILL): connections drop, every command fails at once until `up`. */
  down: () => Promise<void>
  /** Starts it again on the same port, with what it had written (append-only file, synced on every write). */
  up: () => Promise<void>
  stop: () => Promise<void>
}

/** Starts redis-server on a free loopback port, persisting like a production Redis should (AOF). */
export async function startChaosRedis (): Promise<ChaosRedis> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'bff-chaos-redis-'))
  const forgetDir = removeOnExit(dir)
  let server: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  const up = async (): Promise<void> => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' })
    killOnExit(child)
    child.once('error', () => {})
    exited = new Promise((resolve) => child.once('exit', () => resolve()))
    server = child
    if (!await answersPing(port, child, 10_000)) throw new Error(`redis-server did not start on port ${port} (is redis-server installed?)`)
  }
  const down = async (): Promise<void> => {
    if (server === undefined || server.exitCode !== null || server.signalCode !== null) return
    server.kill('SIGCONT')
    server.kill('SIGKILL')
    await exited
  }
  try {
    await up()
  } catch (error) {
    await down()
    await rm(dir, { recursive: true, force: true })
    forgetDir()
    throw error
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pause: () => { server?.kill('SIGSTOP') },
    resume: () => { server?.kill('SIGCONT') },
    down,
    up,
    stop: async () => {
      await down()
      await rm(dir, { recursive: true, force: true })
      forgetDir()
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
