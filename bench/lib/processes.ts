import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { resolve as resolvePath } from 'node:path'

export const ROOT = resolvePath(import.meta.dirname, '..', '..')

export interface Started {
  url: string
  child: ChildProcess
  stop: () => Promise<void>
}

/** Starts a bench server script in its own Node.js process and waits for its {"url"} line. */
export async function startServer (script: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Started> {
  // TypeScript sources run through tsx; the BFF itself runs compiled (bff.mjs imports dist/).
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : []
  const child = spawn(process.execPath, [...nodeArgs, ...loader, resolvePath(ROOT, script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      for (const line of buffered.split('\n')) {
        try {
          const parsed = JSON.parse(line) as { url?: string }
          if (typeof parsed.url === 'string') resolve(parsed.url)
        } catch {}
      }
    })
    child.once('exit', (code) => { reject(new Error(`${script} exited with ${String(code)}`)) })
  })
  return {
    url,
    child,
    stop: async () => {
      // A child killed by a signal has a signalCode and no exitCode: it will never emit 'exit' again.
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  }
}

/** CPU seconds and resident memory of a process, from /proc (Linux). */
export async function processUsage (pid: number): Promise<{ cpuSeconds: number, rssBytes: number }> {
  const { readFile } = await import('node:fs/promises')
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? []
  const ticks = 100
  const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / ticks
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return { cpuSeconds, rssBytes: rssKb * 1024 }
}

/** The environment of a BFF under test: these upstreams, a fresh secret, plain http, quiet logs, and `extra`. */
export function bffEnv (upstreams: { authUrl: string, apiUrl: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    EJENTO_AUTH_URL: upstreams.authUrl,
    EJENTO_API_URL: upstreams.apiUrl,
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    COOKIE_SECURE: 'false',
    LOG_LEVEL: 'warn',
    ...extra
  }
}
