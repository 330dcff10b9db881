import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { onCleanup } from './helpers/app.js'
import { ROOT, waitFor, within } from './helpers/processes.js'
import { REAL_SECRET } from './helpers/real-server.js'

/** The processes of process group `group` still running (zombies aside), as `pid command`. */
async function runningIn (group: number): Promise<string[]> {
  const running: string[] = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8')
      // pid (comm) state ppid pgrp ...: the command may hold spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(pgrp) !== group || state === 'Z') continue
      running.push(`${name} ${(await readFile(`/proc/${name}/cmdline`, 'utf8')).replaceAll('\0', ' ').trim()}`)
    } catch {
      // Gone while we looked.
    }
  }
  return running
}

/**
 * `npm start` under a supervisor (systemd, a container whose first process is npm): the
 * supervisor's SIGTERM goes to npm only. npm passes it to its child, the shell that runs the
 * script, and /bin/sh (dash) died of it without passing it on: npm exited at once, the server
 * ran on as an orphan, never told to shut down. The script now execs node, so the signal
 * reaches the server, which shuts down gracefully, and npm exits after it.
 */
describe('npm start under a supervisor (regression: SIGTERM to npm orphaned the server)', () => {
  it('SIGTERM to npm reaches the server: it shuts down gracefully, npm exits after it, no process remains', { timeout: 60_000 }, async () => {
    const script = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
    // A package with this repository's start script, and the tests' build as its dist/.
    const folder = await mkdtemp(join(tmpdir(), 'ejento-bff-npm-start-'))
    onCleanup(async () => { await rm(folder, { recursive: true, force: true }) })
    await writeFile(join(folder, 'package.json'), JSON.stringify({ name: 'npm-start-check', private: true, type: 'module', scripts: { start: script } }))
    await symlink(dirname(inject('compiledServer')), join(folder, 'dist'))

    // Its own process group (the supervisor's unit), to see every process npm starts.
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: folder,
      detached: true,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? folder,
        HOST: '127.0.0.1',
        PORT: '0',
        EJENTO_AUTH_URL: 'http://127.0.0.1:9',
        EJENTO_API_URL: 'http://127.0.0.1:9',
        SESSION_SECRET: REAL_SECRET,
        COOKIE_SECURE: 'false'
      },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const group = npm.pid as number
    onCleanup(async () => {
      // Whatever is left of the group this test started (an orphaned server included).
      try { process.kill(-group, 'SIGKILL') } catch {}
    })
    let output = ''
    npm.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    npm.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
      npm.once('exit', (code, signal) => resolve({ code, signal }))
    })

    expect(await waitFor(() => output.includes('Server listening at http://'), 20_000, 50), output).toBe(true)
    const server = (await runningIn(group)).filter((line) => /^\d+ \S*node dist\/server\.js$/.test(line))
    expect(server, 'the server runs in npm\'s group').toHaveLength(1)

    npm.kill('SIGTERM')
    await within(15_000, exited, 'npm exiting')
    // npm waited for the server: nothing of the group runs the moment npm is gone.
    expect(await runningIn(group)).toEqual([])
    expect(output).toContain('"msg":"shutting down: no new connections; open requests and streams may finish"')
    expect(output).toContain('"msg":"shut down"')
  })
})
