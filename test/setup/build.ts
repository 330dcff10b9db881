import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The compiled server's entry point (`server.js` of a build of the current sources). */
    compiledServer: string
  }
}

const ROOT = resolve(import.meta.dirname, '..', '..')
const BUILDS = join(ROOT, '.tmp', 'dist')
const STALE_MS = 3_600_000

/**
 * Compiles the server once per test run: the real-socket tests (faults, aborts, timeouts,
 * request targets, deployment) run the compiled `server.js`, exactly what `npm start` and the
 * image run. Each build lands in a folder named after a hash of the sources, made whole before
 * it is renamed into place, so that runs at the same time never read a half-written build.
 */
export default function setup (project: TestProject): void {
  const hash = sourceHash()
  const target = join(BUILDS, hash)
  mkdirSync(BUILDS, { recursive: true })
  if (!existsSync(join(target, 'server.js'))) {
    const partial = `${target}.partial-${process.pid}`
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', partial, '--declaration', 'false', '--sourceMap', 'false'], { cwd: ROOT, stdio: 'inherit' })
    } catch (error) {
      // Type errors still emit JavaScript; `npm run lint` is what fails on them. No output at all is fatal.
      if (!existsSync(join(partial, 'server.js'))) throw error
      console.warn('tsc reported errors (see above); the real-socket tests run what it emitted')
    }
    try {
      renameSync(partial, target)
    } catch {
      // Another run finished the same build first.
      rmSync(partial, { recursive: true, force: true })
    }
  }
  pruneOldBuilds(hash)
  project.provide('compiledServer', join(target, 'server.js'))
}

function sourceHash (): string {
  const hash = createHash('sha256')
  for (const file of ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json', ...filesUnder(join(ROOT, 'src'))]) {
    hash.update(relative(ROOT, resolve(ROOT, file))).update('\0').update(readFileSync(resolve(ROOT, file))).update('\0')
  }
  return hash.digest('hex').slice(0, 16)
}

function filesUnder (folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name)
    return entry.isDirectory() ? filesUnder(path) : [path]
  }).sort()
}

function pruneOldBuilds (keep: string): void {
  for (const name of readdirSync(BUILDS)) {
    const path = join(BUILDS, name)
    if (name !== keep && Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true })
  }
}
