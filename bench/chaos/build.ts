import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'

/**
 * The compiled server of the checkout at `root` (this repository, or an older commit's
 * worktree for a before/after figure): built with that checkout's own tsconfig into
 * `.tmp/<folder>/<hash of its sources>/`, once per version of the sources, whole before it
 * is renamed into place (several runs may build at once in one work tree). The chaos run and
 * the tests' global setup (`.tmp/dist/`) both build this way.
 */
export function compiledServer (root: string, folder = 'chaos-dist'): string {
  const target = join(root, '.tmp', folder, sourceHash(root))
  const server = join(target, 'server.js')
  if (existsSync(server)) return server
  mkdirSync(join(root, '.tmp', folder), { recursive: true })
  const partial = `${target}.partial-${process.pid}`
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  try {
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', partial, '--declaration', 'false', '--sourceMap', 'false'], { cwd: root, stdio: 'inherit' })
  } catch (error) {
    // Type errors still emit JavaScript (the linters are where they fail); no output at all is fatal.
    if (!existsSync(join(partial, 'server.js'))) throw error
  }
  try {
    renameSync(partial, target)
  } catch {
    // Another run finished the same build first.
    rmSync(partial, { recursive: true, force: true })
  }
  return server
}

function sourceHash (root: string): string {
  const hash = createHash('sha256')
  const files = [...['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((name) => join(root, name)), ...filesUnder(join(root, 'src'))]
  for (const path of files) hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0')
  return hash.digest('hex').slice(0, 16)
}

function filesUnder (folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name)
    return entry.isDirectory() ? filesUnder(path) : [path]
  }).sort()
}
