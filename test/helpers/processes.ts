import { spawn } from 'node:child_process'
import type { ChildProcessByStdio } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { inject } from 'vitest'
import { onCleanup } from './app.js'
import type { CleanupScope } from './app.js'

export const ROOT = resolve(import.meta.dirname, '..', '..')

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  /** When it exited, epoch ms. */
  at: number
  stdout: string
  stderr: string
}

export interface ServerProcess {
  child: ChildProcessByStdio<null, Readable, Readable>
  stdout: () => string
  stderr: () => string
  /** Every JSON log line written to stdout so far. */
  logs: () => Array<Record<string, unknown>>
  exited: Promise<Exit>
  /** The base URL once "Server listening at ..." is logged; rejects if it exits first or takes over 15 s. */
  listening: () => Promise<string>
}

/**
 * Runs the compiled server (`server.js` of the build the tests' global setup made, as `npm
 * start` runs it) with exactly `env` plus PATH, in an empty temporary folder. Killed after the test
 * (or, with `cleanup` = onFileCleanup, after the file) if still running.
 */
export async function spawnServer (env: Record<string, string>, cleanup: CleanupScope = onCleanup): Promise<ServerProcess> {
  const cwd = await mkdtemp(join(tmpdir(), 'ejento-bff-server-'))
  cleanup(async () => { await rm(cwd, { recursive: true, force: true }) })
  const child = spawn(process.execPath, [inject('compiledServer')], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  cleanup(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('close', resolve))
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, at: Date.now(), stdout, stderr }))
  })
  const logs = (): Array<Record<string, unknown>> => stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
  const listening = async (): Promise<string> => await new Promise<string>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`not listening in time: ${stdout} ${stderr}`)), 15_000)
    const check = (): void => {
      const line = logs().find((candidate) => typeof candidate.msg === 'string' && candidate.msg.startsWith('Server listening at http://'))
      const match = /Server listening at (http:\/\/[^\s"]+)/.exec(String(line?.msg ?? ''))
      if (match?.[1] !== undefined) {
        clearTimeout(deadline)
        resolve(match[1])
      }
    }
    child.stdout.on('data', check)
    child.once('close', () => {
      clearTimeout(deadline)
      reject(new Error(`exited before listening: ${stdout} ${stderr}`))
    })
    check()
  })
  return { child, stdout: () => stdout, stderr: () => stderr, logs, exited, listening }
}

/** Starts `npm run demo`'s entry point (tsx src/demo.ts) on a free port; answers its base URL. Stopped after the test. */
export async function startDemo (): Promise<string> {
  return (await startDemoPrinting()).url
}

/** `npm run demo` on a free port (with `env`'s variables too): its URL and everything it printed at start (the curl commands too). */
export async function startDemoPrinting (env: Record<string, string> = {}): Promise<{ url: string, printed: string }> {
  const demo = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  onCleanup(async () => {
    if (demo.exitCode !== null || demo.signalCode !== null) return
    demo.kill('SIGTERM')
    await new Promise((resolve) => demo.once('exit', resolve))
  })
  return await new Promise<{ url: string, printed: string }>((resolve, reject) => {
    let output = ''
    demo.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /running at (http:\/\/[^\s]+)/.exec(output)
      // The banner ends with the log-out command.
      if (match?.[1] !== undefined && output.includes('/auth/logout')) resolve({ url: match[1], printed: output })
    })
    demo.once('exit', (code) => { reject(new Error(`demo exited with ${String(code)}: ${output}`)) })
  })
}

/** Rejects when `promise` takes longer than `ms`, so a hang fails the test instead of timing it out. */
export async function within<T> (ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `condition` every `intervalMs` for up to `ms`; answers whether it came true. */
export async function waitFor (condition: () => boolean | Promise<boolean>, ms: number, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await condition()) return true
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  return await condition()
}
