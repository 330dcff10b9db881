import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { DEMO, onFileCleanup } from './helpers/app.js'
import { ROOT } from './helpers/processes.js'
import { GUIDE } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

const run = promisify(execFile)

/** Runs a command; answers its output, or throws with it. */
async function sh (command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 })
    return stdout + stderr
  } catch (error) {
    const failed = error as { message: string, stdout?: string, stderr?: string }
    throw new Error(`${command} ${args.join(' ')} failed: ${failed.message}\n${failed.stdout ?? ''}${failed.stderr ?? ''}`)
  }
}

/** What a checkout of the repository holds that `npm pack` (its prepare script: the builds) reads; no build output. */
const SOURCES = ['package.json', 'package-lock.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'src', 'client']

/** A plain Node.js ESM app of a frontend team: logs in through the client, lists the agents, asks, handles a typed error. */
const CONSUMER_APP = `
import { BffError, ClientError, createClient } from 'ejento-bff/client'

// Node.js's fetch keeps no cookies: a small jar stands in for the browser's.
const cookies = new Map()
const jarFetch = async (input, init = {}) => {
  const headers = new Headers(init.headers)
  if (cookies.size > 0) headers.set('cookie', [...cookies].map(([name, value]) => name + '=' + value).join('; '))
  const response = await fetch(input, { ...init, headers })
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';')
    const name = pair.slice(0, pair.indexOf('='))
    const value = pair.slice(pair.indexOf('=') + 1)
    if (value === '' || /max-age=0/i.test(line)) cookies.delete(name)
    else cookies.set(name, value)
  }
  return response
}

const client = createClient({ baseUrl: process.env.BFF_URL, fetch: jarFetch })
let refused
try {
  await client.login({ email: process.env.BFF_EMAIL, password: 'not-the-password' })
} catch (error) {
  refused = error instanceof BffError ? { status: error.status, code: error.code } : String(error)
}
await client.login({ email: process.env.BFF_EMAIL, password: process.env.BFF_PASSWORD })
const session = await client.session()
const agents = await client.proxy('ejento', '/api/agents')
let text = ''
let end
for await (const event of client.ask(agents.data[0].id, { user_query: 'What is Ejento?', chat_thread_id: null })) {
  if (event.type === 'token') text += event.data.delta
  if (event.type === 'end') end = event.data.output.answer
}
let unsafe
try {
  await client.proxy('ejento', '/api/../../auth/api/users')
} catch (error) {
  unsafe = error instanceof ClientError ? error.code : String(error)
}
await client.logout()
console.log(JSON.stringify({ refused, session, agents: agents.data.map((agent) => agent.name), text, end, unsafe, after: await client.session() }))
`

/** The same team's TypeScript: the client's declarations must type its calls and events, and refuse wrong ones. */
const CONSUMER_TS = `
import { BffError, createClient } from 'ejento-bff/client'
import type { AskEvent, ClientErrorCode, LoginAnswer, Session } from 'ejento-bff/client'

const client = createClient({ baseUrl: 'https://bff.example', maxEventSize: 65_536 })

export async function chat (question: string): Promise<{ answer: string, session: Session, login: LoginAnswer }> {
  const login = await client.login({ email: 'demo@example.com', password: 'demo-password' })
  let answer = ''
  for await (const event of client.ask(1, { user_query: question, chat_thread_id: null })) {
    const typed: AskEvent = event
    if (typed.type === 'token') answer += typed.data.delta
    if (typed.type === 'assistant_stream') answer += typed.data.delta
  }
  return { answer, session: await client.session(), login }
}

export function codeOf (error: unknown): string | undefined {
  return error instanceof BffError ? error.code : undefined
}

export const stopped: ClientErrorCode = 'stream_event_too_large'

export async function wrong (): Promise<void> {
  // @ts-expect-error: a log-in takes an email and a password
  await client.login({ user: 'demo' })
  // @ts-expect-error: a question is user_query, a string
  client.ask(1, { user_query: 42 })
  // @ts-expect-error: not one of the client's error codes
  const code: ClientErrorCode = 'no_such_code'
  void code
}
`

/**
 * "They install the client" (F7, found attacking issue 13): package.json exports
 * `ejento-bff/client` from client/dist, a build output not in git. The package's prepare script
 * builds it (and dist/, which `.` exports), as it runs for `npm pack`, `npm publish` and an
 * install from git; `files` ships both. This packs a copy of the sources as they are, installs
 * the tarball into a new project as a frontend team would, runs a plain Node.js ESM app on it
 * against the compiled BFF, and type-checks a TypeScript consumer with tsc.
 */
describe('the client, installed from a package of this repository', () => {
  let work: string
  let consumer: string
  let tarball: string
  let server: RealServer
  let packed: string

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ejento-bff-install-'))
    onFileCleanup(async () => { await rm(work, { recursive: true, force: true }) })
    const started = (async () => {
      const sim = await startSimulator(GUIDE.sim)
      onFileCleanup(sim.close)
      return await startRealServer(sim, GUIDE.env, onFileCleanup)
    })()

    // A checkout without any build output; its dev dependencies (tsc) are the repository's.
    const checkout = join(work, 'checkout')
    for (const path of SOURCES) await cp(join(ROOT, path), join(checkout, path), { recursive: true, filter: (source) => !/[/\\](?:dist|node_modules)$/.test(source) })
    await symlink(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir')
    expect(existsSync(join(checkout, 'client', 'dist'))).toBe(false)
    await mkdir(join(work, 'out'))
    packed = await sh('npm', ['pack', '--pack-destination', join(work, 'out'), '--loglevel=notice'], checkout)
    const [name] = readdirSync(join(work, 'out'))
    tarball = join(work, 'out', name ?? 'none.tgz')

    consumer = join(work, 'consumer')
    await mkdir(consumer)
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'frontend-app', private: true, type: 'module' }))
    // The registry is asked only for what the npm cache lacks (the BFF's own dependencies come along).
    await sh('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], consumer)
    server = await started
  }, 180_000)

  it('npm pack runs the prepare script, which builds client/dist and dist; the tarball ships them, not the sources of the server or the tests', async () => {
    expect(packed).toMatch(/ejento-bff@[\d.]+ prepare/)
    const listed = (await sh('tar', ['tzf', tarball], work)).split('\n').filter((line) => line !== '')
    for (const file of ['package/package.json', 'package/client/dist/index.js', 'package/client/dist/index.d.ts', 'package/client/dist/events.js', 'package/dist/app.js', 'package/dist/server.js']) {
      expect(listed).toContain(file)
    }
    expect(listed.filter((file) => /^package\/(?:src|test|bench|web|\.tmp|node_modules)\//.test(file))).toEqual([])
    const installed = join(consumer, 'node_modules', 'ejento-bff')
    expect(existsSync(join(installed, 'client', 'dist', 'index.js'))).toBe(true)
  })

  it('a plain Node.js ESM app imports ejento-bff/client, logs in, lists the agents, asks, and gets typed errors', async () => {
    const app = join(consumer, 'app.mjs')
    await writeFile(app, CONSUMER_APP)
    const output = await sh(process.execPath, [app], consumer, { BFF_URL: server.base, BFF_EMAIL: DEMO.email, BFF_PASSWORD: DEMO.password })
    const result = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>
    expect(result.refused).toEqual({ status: 401, code: 'invalid_credentials' })
    expect(result.session).toMatchObject({ authenticated: true })
    expect(result.agents).toContain('Demo Agent')
    expect(typeof result.text).toBe('string')
    expect(result.text).not.toBe('')
    expect(result.end).toBe(result.text)
    expect(result.unsafe).toBe('unsafe_path')
    expect(result.after).toMatchObject({ authenticated: false })
  })

  it('the package\'s `.` entry (the BFF itself) imports too', async () => {
    const output = await sh(process.execPath, ['--input-type=module', '-e', 'const bff = await import("ejento-bff"); console.log(typeof bff.buildApp)'], consumer)
    expect(output.trim()).toBe('function')
  }, 60_000)

  it('tsc types a TypeScript consumer with the installed declarations, and refuses wrong calls', async () => {
    await writeFile(join(consumer, 'chat.ts'), CONSUMER_TS)
    await writeFile(join(consumer, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM', 'DOM.Iterable', 'DOM.AsyncIterable'], types: [], strict: true, noEmit: true },
      files: ['chat.ts']
    }))
    const output = await sh(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], consumer)
    expect(output).toBe('')
  }, 120_000)
})
