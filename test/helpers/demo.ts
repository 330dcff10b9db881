import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { onCleanup } from './app.js'

export const ROOT = resolve(import.meta.dirname, '..', '..')

/** Starts `npm run demo`'s entry point (tsx src/demo.ts) on a free port; answers its base URL. Stopped after the test. */
export async function startDemo (): Promise<string> {
  const demo = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  onCleanup(async () => {
    if (demo.exitCode !== null || demo.signalCode !== null) return
    demo.kill('SIGTERM')
    await new Promise((resolve) => demo.once('exit', resolve))
  })
  return await new Promise<string>((resolve, reject) => {
    let output = ''
    demo.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /running at (http:\/\/[^\s]+)/.exec(output)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    demo.once('exit', (code) => { reject(new Error(`demo exited with ${String(code)}: ${output}`)) })
  })
}
