import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from './processes.js'

const run = promisify(execFile)

export interface LoadResult {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  errors: number
}

/** Loads one URL with wrk (POST, optional Cookie/Authorization) and reads its summary. */
export async function wrk (url: string, options: { seconds: number, connections: number, cookie?: string, authorization?: string }): Promise<LoadResult> {
  const { stdout } = await run('wrk', [
    '-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency', '-s', resolve(ROOT, 'bench/wrk/post.lua'), url
  ], {
    env: { ...process.env, BENCH_COOKIE: options.cookie ?? '', BENCH_AUTHORIZATION: options.authorization ?? '' },
    timeout: (options.seconds + 30) * 1000
  })
  const number = (pattern: RegExp): number => Number(pattern.exec(stdout)?.[1] ?? Number.NaN)
  const latency = (percent: string): number => {
    const match = new RegExp(`\\s${percent}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout)
    if (match === null) return Number.NaN
    const value = Number(match[1])
    return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value
  }
  return {
    requestsPerSecond: number(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    non2xx: number(/Non-2xx or 3xx responses:\s+(\d+)/) || 0,
    errors: (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)?.slice(1).reduce((sum, value) => sum + Number(value), 0)) ?? 0
  }
}

export async function hasWrk (): Promise<boolean> {
  try {
    await run('wrk', ['--version'])
    return true
  } catch (error) {
    // wrk --version exits 1 after printing its version.
    return (error as { stdout?: string }).stdout?.includes('wrk') === true
  }
}
