import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config/index.js'
import { onCleanup } from './helpers/app.js'
import { spawnServer, within } from './helpers/processes.js'

const BASE = { EJENTO_AUTH_URL: 'http://auth.test', EJENTO_API_URL: 'http://api.test', SESSION_SECRET: 's'.repeat(40) }

/** Regression: values the review found to end in a stack trace or a misleading message. */
describe('configuration edge cases (review findings)', () => {
  it('accepts an origin written with capitals, as browsers send it: lower-cased', () => {
    expect(loadConfig({ ...BASE, ALLOWED_ORIGINS: 'https://App.Example.com' }).security.allowedOrigins).toEqual(['https://app.example.com'])
  })

  it('refuses a STATIC_DIR that would shadow the BFF routes with a ConfigError naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bff-static-'))
    onCleanup(async () => { await rm(dir, { recursive: true, force: true }) })
    await mkdir(join(dir, 'proxy'))
    expect(() => loadConfig({ ...BASE, STATIC_DIR: dir })).toThrow(ConfigError)
    expect(() => loadConfig({ ...BASE, STATIC_DIR: dir })).toThrow(/^STATIC_DIR must not hold proxy/)
  })

  it('an unusable HOST stops the server with one line naming it, not a stack trace', async () => {
    const server = await spawnServer({ ...BASE, HOST: 'no-such-host.invalid', PORT: '0', LOG_LEVEL: 'silent' })
    const result = await within(20_000, server.exited, 'the exit')
    expect(result.code).toBe(1)
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^ejento-bff: cannot listen on HOST=no-such-host\.invalid/)
  })
})
