import { spawn } from 'node:child_process'
import type { ChildProcessByStdio } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { request } from 'undici'
import { killOnExit, removeOnExit } from './on-exit.js'
import { freePort } from './ports.js'

const READY_WITHIN_MS = 60_000
const STOP_GRACE_MS = 5000

/**
 * One compiled BFF (`node server.js`) on a port of its own, which it keeps across restarts (as
 * a pod behind a balancer keeps its address). Its warn-level log lines are counted by their
 * `refresh` field (lost, takeover, failed, saving...), never kept whole.
 */
export class BffInstance {
  readonly index: number
  readonly url: string
  readonly #server: string
  readonly #env: Record<string, string>
  readonly #cwd: string
  readonly #port: number
  #child: ChildProcessByStdio<null, Readable, Readable> | undefined
  #exited: Promise<void> = Promise.resolve()
  readonly logCounts = new Map<string, number>()

  constructor (index: number, port: number, cwd: string, server: string, env: Record<string, string>) {
    this.index = index
    this.#port = port
    this.url = `http://127.0.0.1:${port}`
    this.#cwd = cwd
    this.#server = server
    this.#env = env
  }

  get running (): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
  }

  /** Starts the process and waits until /readyz answers 200 (its Redis is up). */
  async start (): Promise<void> {
    if (this.running) return
    // An empty working folder: the server reads a .env from its working folder, and must not read ours.
    const child = spawn(process.execPath, [this.#server], {
      cwd: this.#cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...this.#env, HOST: '127.0.0.1', PORT: String(this.#port) },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    killOnExit(child)
    this.#child = child
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()))
    let pending = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) this.#countLine(line)
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
    const deadline = Date.now() + READY_WITHIN_MS
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`BFF instance ${this.index} exited at start: ${stderr}`)
      if (await this.ready()) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`BFF instance ${this.index} not ready within ${READY_WITHIN_MS} ms: ${stderr}`)
  }

  /** SIGKILL: no shutdown hook runs, whatever the process held in memory is gone. */
  async kill (): Promise<void> {
    if (!this.running) return
    this.#child?.kill('SIGKILL')
    await this.#exited
  }

  /** SIGTERM (a graceful close), then SIGKILL if it takes too long. */
  async stop (): Promise<void> {
    if (!this.running) return
    this.#child?.kill('SIGTERM')
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), STOP_GRACE_MS)
    await this.#exited
    clearTimeout(timer)
  }

  async ready (): Promise<boolean> {
    try {
      const answer = await request(`${this.url}/readyz`, { headersTimeout: 2000, bodyTimeout: 2000 })
      await answer.body.dump()
      return answer.statusCode === 200
    } catch {
      return false
    }
  }

  count (key: string): number {
    return this.logCounts.get(key) ?? 0
  }

  #countLine (line: string): void {
    if (!line.startsWith('{')) return
    try {
      const entry = JSON.parse(line) as { refresh?: unknown, level?: unknown }
      const key = typeof entry.refresh === 'string' ? `refresh:${entry.refresh}` : `level:${String(entry.level)}`
      this.logCounts.set(key, (this.logCounts.get(key) ?? 0) + 1)
    } catch {}
  }
}

/** N instances sharing one environment (upstreams, Redis, secret), each in its own empty folder. */
export class Fleet {
  readonly instances: BffInstance[]
  readonly #cwd: string
  readonly #forgetCwd: () => void

  private constructor (instances: BffInstance[], cwd: string) {
    this.instances = instances
    this.#cwd = cwd
    this.#forgetCwd = removeOnExit(cwd)
  }

  static async start (server: string, count: number, env: Record<string, string>): Promise<Fleet> {
    const cwd = await mkdtemp(join(tmpdir(), 'bff-chaos-'))
    const instances: BffInstance[] = []
    for (let index = 0; index < count; index++) instances.push(new BffInstance(index, await freePort(), cwd, server, env))
    const fleet = new Fleet(instances, cwd)
    try {
      // One at a time: on a small machine, starting them together only makes each slower.
      for (const instance of instances) await instance.start()
    } catch (error) {
      await fleet.stop()
      throw error
    }
    return fleet
  }

  at (index: number): BffInstance {
    const instance = this.instances[index % this.instances.length]
    if (instance === undefined) throw new Error('empty fleet')
    return instance
  }

  /** Sums a log counter over every instance (and every process each has been). */
  count (key: string): number {
    return this.instances.reduce((sum, instance) => sum + instance.count(key), 0)
  }

  async stop (): Promise<void> {
    await Promise.all(this.instances.map(async (instance) => { await instance.stop() }))
    await rm(this.#cwd, { recursive: true, force: true })
    this.#forgetCwd()
  }
}
