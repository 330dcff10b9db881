import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'

// semver is what npm itself judges `engines` with (fastify depends on it; no types of its own here).
const semver = createRequire(import.meta.url)('semver') as {
  minVersion: (range: string) => { version: string, major: number } | null
  satisfies: (version: string, range: string) => boolean
}

const root = new URL('../', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[], version?: string }>
}
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8')
const range = pkg.engines.node
const oldest = semver.minVersion(range)

/** The locked packages whose `engines.node` refuses `version`: what `npm ci` warns EBADENGINE about. */
function refusing (version: string): string[] {
  return Object.entries(lock.packages).flatMap(([path, entry]) => {
    const wanted = Array.isArray(entry.engines) ? undefined : entry.engines?.node
    return wanted === undefined || semver.satisfies(version, wanted) ? [] : [`${path === '' ? '(this package)' : path}@${entry.version ?? '?'} wants node ${wanted}`]
  })
}

describe('the supported Node.js majors (22 and 24: 20 is past its end of life, and cookie@2 wants 22)', () => {
  it('engines names Node.js 22 as the oldest, admits 24, refuses 20', () => {
    expect(oldest?.major).toBe(22)
    expect(semver.satisfies('24.0.0', range)).toBe(true)
    expect(semver.satisfies('20.19.0', range)).toBe(false)
    // The lock's copy of this package's engines agrees with package.json.
    expect(lock.packages['']?.engines).toEqual(pkg.engines)
  })

  it('every locked package takes the oldest version engines admits, and Node.js 24: npm ci warns of no engine there', () => {
    expect(refusing(oldest?.version ?? '0.0.0')).toEqual([])
    expect(refusing('24.0.0')).toEqual([])
  })

  it('the image runs a Node.js major that engines admits (24)', () => {
    const image = /^ARG NODE_IMAGE=node:(\d+)/m.exec(dockerfile)?.[1]
    expect(image).toBe('24')
    expect(semver.satisfies(`${image}.0.0`, range)).toBe(true)
  })
})
