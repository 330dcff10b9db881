import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { bundleClient } from '../client/scripts/bundle.js'
import { ROOT } from './helpers/processes.js'

const run = promisify(execFile)
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** Runs tsc with these arguments in the repository; answers its exit code and output. */
async function tsc (...args: string[]): Promise<{ code: number, output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [TSC, ...args], { cwd: ROOT })
    return { code: 0, output: stdout + stderr }
  } catch (error) {
    const failed = error as { code?: number, stdout?: string, stderr?: string }
    return { code: failed.code ?? 1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` }
  }
}

describe('the browser client package', () => {
  it('types every answer with the generated OpenAPI types, and refuses wrong shapes (client/type-tests)', async () => {
    // Its `@ts-expect-error` lines must fail to compile, its Equal<...> checks must hold.
    const result = await tsc('-p', 'client/type-tests/tsconfig.json')
    expect(result.output).toBe('')
    expect(result.code).toBe(0)
  }, 120_000)

  it('compiles to ESM with type declarations where package.json exports it, needing only eventsource-parser', async () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types: string, import: string }>, dependencies: Record<string, string> }
    const entry = manifest.exports['./client']
    expect(entry).toEqual({ types: './client/dist/index.d.ts', import: './client/dist/index.js' })
    expect(Object.keys(manifest.dependencies)).toContain('eventsource-parser')

    // Built as `npm run client:build` builds it, into a folder of its own (inside the repository, for its node_modules).
    const out = await mkdtemp(join(ROOT, '.tmp', 'client-build-'))
    try {
      const result = await tsc('-p', 'client/tsconfig.json', '--outDir', out)
      expect(result.output).toBe('')
      expect(result.code).toBe(0)
      for (const file of [entry?.types, entry?.import]) expect(existsSync(join(out, (file ?? '').replace('./client/dist/', '')))).toBe(true)

      // Runs in a browser: imports nothing but its own files and eventsource-parser (no node: modules).
      const scripts = readdirSync(out).filter((name) => name.endsWith('.js'))
      const imported = scripts.flatMap((name) => [...readFileSync(join(out, name), 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/gm)].map((match) => match[1]))
      expect(imported.filter((specifier) => specifier?.startsWith('./') !== true)).toEqual(['eventsource-parser'])

      const module = await import(pathToFileURL(join(out, 'index.js')).href) as Record<string, unknown>
      expect(Object.keys(module).sort()).toEqual(['BffClient', 'BffError', 'ClientError', 'DEFAULT_MAX_EVENT_SIZE', 'askEvents', 'createClient', 'isProblem'])
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  }, 120_000)

  it('bundles into one ES module a page loads as it is: no import left, the same exports', async () => {
    const out = await mkdtemp(join(ROOT, '.tmp', 'client-bundle-'))
    try {
      const file = await bundleClient(join(out, 'ejento-bff-client.js'))
      expect(readdirSync(out)).toEqual(['ejento-bff-client.js'])
      const text = readFileSync(file, 'utf8')
      expect(text).not.toMatch(/^\s*import\b/m)
      expect(text).toContain('createParser')
      const module = await import(pathToFileURL(file).href) as Record<string, unknown>
      expect(Object.keys(module).sort()).toEqual(['BffClient', 'BffError', 'ClientError', 'DEFAULT_MAX_EVENT_SIZE', 'askEvents', 'createClient', 'isProblem'])
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  }, 60_000)
})
