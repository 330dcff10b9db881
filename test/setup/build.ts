import { execFileSync } from 'node:child_process'
import { join, resolve } from 'node:path'

/**
 * Compiles the server once per test run: the real-socket tests (faults, aborts, timeouts,
 * request targets, deployment) run `dist/server.js`, exactly what `npm start` and the image run.
 */
export default function setup (): void {
  const root = resolve(import.meta.dirname, '..', '..')
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' })
}
