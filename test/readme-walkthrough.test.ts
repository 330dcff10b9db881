import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import type { StreamFormat } from '../src/proxy/send.js'
import { onCleanup } from './helpers/app.js'
import { startDemoPrinting } from './helpers/processes.js'
import { PROFILES } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '..')

/** A streamed answer as curl prints it: the guide's named events, or v2's `data:` lines switched on `step`. */
const STREAMED: Record<StreamFormat, RegExp> = {
  events: /event: start[\s\S]*event: token[\s\S]*event: end/,
  steps: /^data: \{"step":"tools_stream"[\s\S]*^data: \{"step":"assistant_stream"[\s\S]*^data: \{"step":"end"/m
}

/** The commands of the README's walk-through, as a reader on this profile runs them. */
async function walkThrough (profile: TestProfile): Promise<string[]> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Walk-through with curl'))
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1]
  expect(block).toBeDefined()
  const commands = (block as string).split('\n').filter((line) => line.startsWith('curl '))
  expect(commands.length).toBeGreaterThanOrEqual(8)
  if (profile.name === 'guide') return commands
  // The passthrough names an upstream path; the walk-through says which one v2 has.
  const v2Path = /EJENTO_PATH_PROFILE=v2 it is (\/proxy\/\S+?)\)?$/m.exec(block as string)?.[1]
  expect(v2Path, 'the walk-through names the passthrough path on v2').toBeDefined()
  return commands.map((command) => command.replace(/\/proxy\/ejento\/\S+/, v2Path as string))
}

/** Runs each command in a fresh folder (for jar.txt) against `base`; answers each one's output and the jar. */
async function runAll (commands: string[], base?: string): Promise<{ outputs: string[], jar: string }> {
  const cwd = await mkdtemp(join(tmpdir(), 'bff-walkthrough-'))
  onCleanup(async () => { await rm(cwd, { recursive: true, force: true }) })
  const outputs: string[] = []
  for (const command of commands) {
    const { stdout } = await run('bash', ['-c', base === undefined ? command : command.replaceAll('http://127.0.0.1:3000', base)], { cwd, timeout: 15_000 })
    outputs.push(stdout)
  }
  return { outputs, jar: await readFile(join(cwd, 'jar.txt'), 'utf8') }
}

describe.each(PROFILES)('the curl walk-throughs on %s', (_name, profile) => {
  const streamed = STREAMED[profile.paths.api.streamFormat]

  /** The README's curl walk-through, run as written against `npm run demo` (on a free port instead of 3000). */
  it('the README curl walk-through works verbatim against demo mode', async () => {
    const commands = await walkThrough(profile)
    const { url } = await startDemoPrinting(profile.env)
    const { outputs, jar } = await runAll(commands, url)

    const [loginOut, sessionOut, threadOut, streamOut, jsonOut, newThreadOut, conversationsOut, usersOut, agentsOut, refreshOut, logoutOut, afterOut] = outputs
    expect(JSON.parse(loginOut as string)).toMatchObject({ authenticated: true, user: { email: 'demo@example.com', full_name: 'Demo User' } })
    expect(JSON.parse(sessionOut as string)).toMatchObject({ authenticated: true, user: { full_name: 'Demo User' } })
    expect(JSON.parse(threadOut as string)).toMatchObject({ success: true, data: { id: 1 } })
    expect(streamOut).toMatch(streamed)
    expect(JSON.parse(jsonOut as string).data.answer).toContain('And in one answer?')
    // A new conversation: v2 names it thread_id, the guide chat_thread_id; either way not thread 1.
    const started = JSON.parse(newThreadOut as string).data
    expect(started.answer).toContain('A new topic')
    expect(started.thread_id ?? started.chat_thread_id).toBe(2)
    const conversations = JSON.parse(conversationsOut as string)
    if (profile.paths.api.chatThreads === undefined) expect(conversations).toMatchObject({ status: 501, code: 'not_supported' })
    else expect(conversations.data.chat_threads.map((thread: { id: number }) => thread.id)).toEqual([2, 1])
    expect(JSON.parse(usersOut as string).count).toBeGreaterThanOrEqual(2)
    expect(JSON.parse(agentsOut as string).data[0].name).toBe('Demo Agent')
    expect(refreshOut?.trim()).toBe('204')
    expect(logoutOut?.trim()).toBe('204')
    // The jar still holds the cookie log-out ended: it is refused, not merely absent.
    expect(jar).toContain('ejento_bff')
    expect(JSON.parse(afterOut as string)).toMatchObject({ status: 401, code: 'not_authenticated' })
    // All the client ever kept: no JWT in the cookie jar or any answer.
    expect(jar + outputs.join('\n')).not.toMatch(/eyJ[\w-]+\.eyJ/)
  })

  /** `npm run demo` prints curl commands with its real address: they work as printed. */
  it('the curl commands npm run demo prints work as printed', async () => {
    const { url, printed } = await startDemoPrinting(profile.env)
    const commands = printed.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('curl '))
    expect(commands.length).toBeGreaterThanOrEqual(6)
    expect(commands.every((command) => command.includes(url))).toBe(true)
    const { outputs, jar } = await runAll(commands)

    const [loginOut, sessionOut, threadOut, streamOut, usersOut, logoutOut] = outputs
    expect(JSON.parse(loginOut as string)).toMatchObject({ authenticated: true, user: { email: 'demo@example.com' } })
    expect(JSON.parse(sessionOut as string)).toMatchObject({ authenticated: true })
    expect(JSON.parse(threadOut as string)).toMatchObject({ success: true, data: { id: 1 } })
    expect(streamOut).toMatch(streamed)
    expect(JSON.parse(usersOut as string).count).toBeGreaterThanOrEqual(2)
    expect(logoutOut?.trim()).toBe('204')
    expect(jar + outputs.join('\n')).not.toMatch(/eyJ[\w-]+\.eyJ/)
  })
})
