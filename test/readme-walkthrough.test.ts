import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'
import { onCleanup } from './helpers/app.js'
import { startDemo, startDemoPrinting } from './helpers/processes.js'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '..')

/** The README's curl walk-through, run as written against `npm run demo` (on a free port instead of 3000). */
it('the README curl walk-through works verbatim against demo mode', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Walk-through with curl'))
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1]
  expect(block).toBeDefined()
  const commands = (block as string).split('\n').filter((line) => line.startsWith('curl '))
  expect(commands.length).toBeGreaterThanOrEqual(8)

  const base = await startDemo()

  const cwd = await mkdtemp(join(tmpdir(), 'bff-walkthrough-'))
  onCleanup(async () => { await rm(cwd, { recursive: true, force: true }) })
  const outputs: string[] = []
  for (const command of commands) {
    const { stdout } = await run('bash', ['-c', command.replaceAll('http://127.0.0.1:3000', base)], { cwd, timeout: 15_000 })
    outputs.push(stdout)
  }

  const [loginOut, sessionOut, threadOut, streamOut, jsonOut, usersOut, agentsOut, refreshOut, logoutOut, afterOut] = outputs
  expect(JSON.parse(loginOut as string)).toMatchObject({ authenticated: true, user: { email: 'demo@example.com' } })
  expect(JSON.parse(sessionOut as string)).toMatchObject({ authenticated: true })
  expect(JSON.parse(threadOut as string)).toMatchObject({ success: true, data: { id: 1 } })
  expect(streamOut).toMatch(/event: start[\s\S]*event: token[\s\S]*event: end/)
  expect(JSON.parse(jsonOut as string).data.answer).toContain('And in one answer?')
  expect(JSON.parse(usersOut as string).count).toBeGreaterThanOrEqual(2)
  expect(JSON.parse(agentsOut as string).data[0].name).toBe('Demo Agent')
  expect(refreshOut?.trim()).toBe('204')
  expect(logoutOut?.trim()).toBe('204')
  expect(JSON.parse(afterOut as string)).toMatchObject({ status: 401, code: 'not_authenticated' })
  // All the client ever kept: no JWT in the cookie jar or any answer.
  const jar = await readFile(join(cwd, 'jar.txt'), 'utf8')
  expect(jar + outputs.join('\n')).not.toMatch(/eyJ[\w-]+\.eyJ/)
})

/** `npm run demo` prints curl commands with its real address: they work as printed. */
it('the curl commands npm run demo prints work as printed', async () => {
  const { url, printed } = await startDemoPrinting()
  const commands = printed.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('curl '))
  expect(commands.length).toBeGreaterThanOrEqual(6)
  expect(commands.every((command) => command.includes(url))).toBe(true)

  const cwd = await mkdtemp(join(tmpdir(), 'bff-demo-curl-'))
  onCleanup(async () => { await rm(cwd, { recursive: true, force: true }) })
  const outputs: string[] = []
  for (const command of commands) outputs.push((await run('bash', ['-c', command], { cwd, timeout: 15_000 })).stdout)

  const [loginOut, sessionOut, threadOut, streamOut, usersOut, logoutOut] = outputs
  expect(JSON.parse(loginOut as string)).toMatchObject({ authenticated: true, user: { email: 'demo@example.com' } })
  expect(JSON.parse(sessionOut as string)).toMatchObject({ authenticated: true })
  expect(JSON.parse(threadOut as string)).toMatchObject({ success: true, data: { id: 1 } })
  expect(streamOut).toMatch(/event: start[\s\S]*event: token[\s\S]*event: end/)
  expect(JSON.parse(usersOut as string).count).toBeGreaterThanOrEqual(2)
  expect(logoutOut?.trim()).toBe('204')
  const jar = await readFile(join(cwd, 'jar.txt'), 'utf8')
  expect(jar + outputs.join('\n')).not.toMatch(/eyJ[\w-]+\.eyJ/)
})
