import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config/index.js'

/** Every variable the config loader reads, found by watching it read a complete environment. */
function variablesRead (): string[] {
  const seen = new Set<string>()
  const env: Record<string, string> = {
    EJENTO_AUTH_URL: 'https://auth.example',
    EJENTO_API_URL: 'https://api.example',
    SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
    REDIS_URL: 'redis://127.0.0.1:6379'
  }
  loadConfig(new Proxy(env, {
    get: (target, name) => {
      if (typeof name === 'string') seen.add(name)
      return target[name as string]
    }
  }))
  return [...seen].filter((name) => /^[A-Z][A-Z0-9_]+$/.test(name)).sort()
}

describe('.env.example and the README', () => {
  const variables = variablesRead()
  const example = readFileSync('.env.example', 'utf8')
  const readme = readFileSync('README.md', 'utf8')

  it('the loader reads the variables this test expects to find (the watch works)', () => {
    expect(variables).toEqual(expect.arrayContaining(['SESSION_SECRET', 'REDIS_KEY_PREFIX', 'REFRESH_TIMEOUT', 'STATIC_DIR']))
    expect(variables.length).toBeGreaterThanOrEqual(30)
  })

  it('.env.example lists every variable, commented, with a line saying what it is', () => {
    for (const name of variables) {
      const line = example.split('\n').findIndex((text) => text.startsWith(`# ${name}=`))
      expect(line, `${name} in .env.example`).toBeGreaterThan(0)
      expect(example.split('\n')[line - 1], `the line above ${name}`).toMatch(/^# \S/)
    }
  })

  it('the README configuration table names every variable', () => {
    const rows = readme.split('\n').filter((line) => line.startsWith('| `'))
    for (const name of variables) expect(rows.some((row) => row.split('|')[1]?.includes(`\`${name}\``)), `${name} in README.md's table`).toBe(true)
  })
})
