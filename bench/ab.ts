/**
 * A/B run of the proxied call (POST /api/agents/1/chat-threads, as in proxied-call.ts) between
 * two builds of the compiled BFF, interleaved in one run so that the shared machine's slow
 * spells hit both alike: compare the B/A ratio, not the absolute figures.
 *
 *   node --import tsx bench/ab.ts <base-ref> [<other-ref>]     (npm run bench:ab -- <base-ref>)
 *
 * A is <base-ref>, B is <other-ref> or, by default, the working tree as it is. Each commit is
 * checked out with `git worktree add` in a temp folder and compiled with its own
 * tsconfig.build.json; the working tree is compiled into a temp folder too (dist/ is left to
 * others). Both BFFs run with the same environment behind one fast upstream. BENCH_ROUNDS (6)
 * rounds of BENCH_SECONDS (8) of wrk with BENCH_CONNECTIONS (32), in the order A B, B A, ...;
 * BENCH_REDIS=1 repeats it on the Redis store (BENCH_REDIS_URL). Everything started or
 * created is removed at the end, on failure and on Ctrl-C too. Needs wrk.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, unlink } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { bffEnv, ROOT, startServer } from './lib/processes.js'
import type { Started } from './lib/processes.js'
import { loginCookie, untilReady } from './lib/session.js'
import { hasWrk, wrk } from './lib/wrk.js'
import type { LoadResult } from './lib/wrk.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const WARMUP_SECONDS = Math.min(SECONDS, 3)
const WITH_REDIS = process.env.BENCH_REDIS === '1'
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

const run = promisify(execFile)
const git = async (...args: string[]): Promise<string> => (await run('git', args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 })).stdout

/** A compiled BFF: `dist` holds app.js, beside a node_modules and a package.json. */
interface Build { name: string, label: string, dist: string }

// Cleanup steps, run last first, once, whether the run ends, fails or is interrupted.
const cleanups: Array<() => Promise<unknown>> = []
let cleaning: Promise<void> | undefined
let interrupted = false
async function cleanUp (): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step()
      } catch (error) {
        console.error(`ab: cleanup step failed: ${(error as Error).message}`)
      }
    }
  })()
  return cleaning
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    interrupted = true
    console.error(`ab: ${signal}, cleaning up`)
    endChildren().then(cleanUp).finally(() => process.exit(130))
  })
}

/** Ends this process's children by pid: bench/lib runs wrk without a handle to stop it by. */
async function endChildren (): Promise<void> {
  const listing = run('ps', ['-o', 'pid=', '--ppid', String(process.pid)])
  const { stdout } = await listing.catch(() => ({ stdout: '' }))
  for (const pid of stdout.split('\n').map(Number)) {
    if (pid > 0 && pid !== listing.child.pid) {
      try { process.kill(pid, 'SIGTERM') } catch {}
    }
  }
}

/** Stops a server unless it is gone already (a Ctrl-C reaches the children too). */
async function stop (server: Started): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) await server.stop()
}

/** Compiles with the TypeScript of `modules`; type errors still emit, only no output is fatal. */
async function compile (modules: string, project: string, dist: string): Promise<string> {
  try {
    await run(process.execPath, [join(modules, 'typescript', 'bin', 'tsc'), '-p', project, '--outDir', dist, '--declaration', 'false', '--sourceMap', 'false'])
  } catch (error) {
    if (!existsSync(join(dist, 'app.js'))) throw error
    console.warn(`ab: tsc reported type errors in ${project}; measuring what it emitted`)
  }
  return dist
}

/** A commit, checked out in `<temp>/<name>` and compiled there. */
async function buildCommit (name: string, ref: string, temp: string): Promise<Build> {
  const sha = (await git('rev-parse', '--verify', '--quiet', `${ref}^{commit}`).catch(() => { throw new Error(`no commit named ${ref}`) })).trim()
  const tree = join(temp, name)
  await git('worktree', 'add', '--detach', tree, sha)
  const modules = join(tree, 'node_modules')
  cleanups.push(async () => {
    // Unlinked first so that nothing removing the tree could walk into the shared node_modules.
    await unlink(modules).catch(() => {})
    await git('worktree', 'remove', '--force', tree).catch(async () => {
      await rm(tree, { recursive: true, force: true })
      await git('worktree', 'prune')
    })
  })
  // The same lock means the same dependencies as the working tree's node_modules: a symlink
  // costs nothing. Another lock gets its own `npm ci`, so A is measured on what it declared.
  const lock = await git('show', `${sha}:package-lock.json`).catch(() => '')
  if (lock === await readFile(join(ROOT, 'package-lock.json'), 'utf8')) {
    await symlink(join(ROOT, 'node_modules'), modules, 'dir')
  } else {
    console.log(`${name}: package-lock.json differs from the working tree's, npm ci …`)
    await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: tree, maxBuffer: 64 * 1024 * 1024 })
  }
  return { name, label: `${ref} (${sha.slice(0, 9)})`, dist: await compile(modules, join(tree, 'tsconfig.build.json'), join(tree, 'dist')) }
}

/** The working tree as it is, compiled into `<temp>/<name>/dist`. */
async function buildWorkingTree (name: string, temp: string): Promise<Build> {
  const folder = join(temp, name)
  await mkdir(folder)
  // The compiled modules need their dependencies and package.json's "type": "module" above them.
  await symlink(join(ROOT, 'node_modules'), join(folder, 'node_modules'), 'dir')
  cleanups.push(async () => { await unlink(join(folder, 'node_modules')) })
  await copyFile(join(ROOT, 'package.json'), join(folder, 'package.json'))
  const head = (await git('rev-parse', '--short=9', 'HEAD')).trim()
  const changed = (await git('status', '--porcelain', '--', 'src', 'tsconfig.json', 'tsconfig.build.json')).trim() !== ''
  const label = `working tree (${head}${changed ? ' + uncommitted changes' : ''})`
  return { name, label, dist: await compile(join(ROOT, 'node_modules'), join(ROOT, 'tsconfig.build.json'), join(folder, 'dist')) }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length / 2
  return Number.isInteger(middle) ? ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2 : sorted[Math.floor(middle)] ?? Number.NaN
}
const figures = (result: Pick<LoadResult, 'requestsPerSecond' | 'p50Ms' | 'p99Ms'>): string =>
  `${Math.round(result.requestsPerSecond).toLocaleString('en').padStart(7)} req/s  p50 ${result.p50Ms.toFixed(2).padStart(6)} ms  p99 ${result.p99Ms.toFixed(2).padStart(6)} ms`

/** Both builds on one store: started with the same environment, logged in, warmed up, then the interleaved rounds. Answers false if a call failed. */
async function compare (store: 'memory' | 'redis', builds: Build[], env: Record<string, string>): Promise<boolean> {
  console.log(`\n${store === 'memory' ? 'In-process store' : `Redis store (${REDIS_URL})`}`)
  const sides: Array<Build & { url: string, cookie: string, results: LoadResult[] }> = []
  const servers: Started[] = []
  const prefixes: string[] = []
  if (store === 'redis') cleanups.push(async () => { await removeKeys(prefixes) })
  try {
    for (const build of builds) {
      const prefix = `bench-ab-${randomBytes(4).toString('hex')}:`
      const storeEnv: Record<string, string> = store === 'redis' ? { REDIS_URL, REDIS_KEY_PREFIX: prefix } : {}
      if (store === 'redis') prefixes.push(prefix)
      const server = await startServer('bench/servers/bff-build.mjs', { ...env, ...storeEnv, BFF_BUILD: build.dist })
      servers.push(server)
      cleanups.push(async () => { await stop(server) })
      await untilReady(server.url)
      sides.push({ ...build, url: `${server.url}/api/agents/1/chat-threads`, cookie: await loginCookie(server.url), results: [] })
    }
    for (const side of sides) await wrk(side.url, { seconds: WARMUP_SECONDS, connections: CONNECTIONS, cookie: side.cookie })
    for (let round = 0; round < ROUNDS; round++) {
      // A B, then B A: a drift across a pair of rounds weighs on both sides alike.
      const order = round % 2 === 0 ? sides : [...sides].reverse()
      for (const side of order) {
        const result = await wrk(side.url, { seconds: SECONDS, connections: CONNECTIONS, cookie: side.cookie })
        side.results.push(result)
        const failed = result.non2xx + result.errors > 0 ? `  (${result.non2xx} non-2xx, ${result.errors} socket errors)` : ''
        console.log(`  round ${round + 1} ${side.name}  ${figures(result)}${failed}`)
      }
    }
  } finally {
    for (const server of servers) await stop(server)
    if (prefixes.length > 0) await removeKeys(prefixes)
  }
  const medians = sides.map((side) => ({
    requestsPerSecond: median(side.results.map((result) => result.requestsPerSecond)),
    p50Ms: median(side.results.map((result) => result.p50Ms)),
    p99Ms: median(side.results.map((result) => result.p99Ms))
  }))
  sides.forEach((side, index) => { console.log(`  median  ${side.name}  ${figures(medians[index] as LoadResult)}`) })
  const [a, b] = medians as [LoadResult, LoadResult]
  console.log(`  B/A     req/s ${(b.requestsPerSecond / a.requestsPerSecond).toFixed(3)}  p50 ${(b.p50Ms / a.p50Ms).toFixed(3)}  p99 ${(b.p99Ms / a.p99Ms).toFixed(3)}`)
  return sides.every((side) => side.results.every((result) => result.non2xx + result.errors === 0))
}

async function removeKeys (prefixes: string[]): Promise<void> {
  const redis = new Redis(REDIS_URL)
  try {
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length > 0) await redis.del(...keys)
    }
  } finally {
    redis.disconnect()
  }
}

const [baseRef, otherRef] = process.argv.slice(2)
if (baseRef === undefined || process.argv.length > 4 || ![SECONDS, ROUNDS, CONNECTIONS].every((value) => Number.isInteger(value) && value > 0)) {
  console.error('usage: node --import tsx bench/ab.ts <base-ref> [<other-ref>]   (default other: the working tree)')
  console.error('       BENCH_ROUNDS, BENCH_SECONDS and BENCH_CONNECTIONS are whole numbers above 0')
  process.exit(2)
}
if (!await hasWrk()) {
  console.error('ab: wrk is needed (apt-get install -y wrk)')
  process.exit(1)
}

const temp = await mkdtemp(join(tmpdir(), 'ejento-bff-ab-'))
cleanups.push(async () => { await rm(temp, { recursive: true, force: true }) })
try {
  console.log('Building …')
  const builds = [
    await buildCommit('A', baseRef, temp),
    otherRef === undefined ? await buildWorkingTree('B', temp) : await buildCommit('B', otherRef, temp)
  ]
  const upstream = await startServer('bench/servers/fast-upstream.ts')
  cleanups.push(async () => { await stop(upstream) })
  // One environment for both; the load comes from one address, the log-in limit is not measured.
  const env = bffEnv({ authUrl: upstream.url, apiUrl: upstream.url }, { AUTH_RATE_LIMIT_PER_IP: '1000000' })
  console.log(`A/B of the proxied call on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node.js ${process.version}`)
  for (const build of builds) console.log(`  ${build.name} = ${build.label}`)
  console.log(`  ${ROUNDS} rounds of ${SECONDS} s, wrk ${CONNECTIONS} connections, order A B, B A, …; ${WARMUP_SECONDS} s warm-up each`)
  let clean = await compare('memory', builds, env)
  if (WITH_REDIS) clean = await compare('redis', builds, env) && clean
  if (!clean) {
    console.error('\nab: some calls failed (non-2xx or socket errors): those figures measure failures, not the proxied call')
    process.exitCode = 1
  }
} catch (error) {
  process.exitCode = 1
  // After a signal, what failed is only what the signal ended.
  if (!interrupted) {
    // A failed command's message holds its stderr; tsc and npm explain themselves on stdout.
    const { message, stdout } = error as Error & { stdout?: string }
    console.error(`ab: ${message}${stdout === undefined || stdout === '' ? '' : `\n${stdout}`}`)
  }
} finally {
  await cleanUp()
}
