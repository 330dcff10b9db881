import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config/index.js'
import { BASE_ENV, startError } from './helpers/start-error.js'
import { spawnServer, within } from './helpers/processes.js'

const PASSWORD = 'Origin-Pass/Never=Echoed0123456789'

/**
 * Regression (found attacking issue 13): an ALLOWED_ORIGINS entry written with credentials
 * (`https://user:pass@app.example`, copied from a URL that had them) was refused with the
 * entry quoted, password included, on the console and in the platform's logs. It is now named
 * by its position, never echoed (as REDIS_CLUSTER_NODES' entries are).
 */
describe('regression: an ALLOWED_ORIGINS entry with credentials printed its password at start', () => {
  const withCredentials = [
    `https://user:${PASSWORD}@app.example`,
    `https://${PASSWORD}@app.example`,
    `https://user:${encodeURIComponent(PASSWORD)}@app.example/`,
    // Not a URL at all (a space in the host), the password in it all the same.
    `https://user:${PASSWORD}@app example`
  ]
  for (const entry of withCredentials) {
    it(`refuses ${entry.replace(PASSWORD, '<password>')} without echoing it, alone or among others`, () => {
      const alone = startError({ ALLOWED_ORIGINS: entry })
      expect(alone.variable).toBe('ALLOWED_ORIGINS')
      expect(alone.message).not.toContain(PASSWORD)
      expect(alone.message).not.toContain(encodeURIComponent(PASSWORD))
      const listed = startError({ ALLOWED_ORIGINS: `https://one.example, ${entry}, https://three.example` })
      expect(listed.message).not.toContain(PASSWORD)
      expect(listed.message).not.toContain(encodeURIComponent(PASSWORD))
      expect(listed.message).toMatch(/entry 2 of 3/)
    })
  }

  it('still takes bare origins', () => {
    expect(loadConfig({ ...BASE_ENV, ALLOWED_ORIGINS: 'https://App.Example, http://localhost:5173/' }).security.allowedOrigins).toEqual(['https://app.example', 'http://localhost:5173'])
  })

  it('the compiled server refuses to start, its output without the password', async () => {
    const server = await spawnServer({ ...BASE_ENV, PORT: '0', HOST: '127.0.0.1', ALLOWED_ORIGINS: `https://ok.example,https://user:${PASSWORD}@app.example` })
    const exit = await within(20_000, server.exited, 'the exit')
    expect(exit.code).not.toBe(0)
    const output = exit.stdout + exit.stderr
    expect(output).toMatch(/ALLOWED_ORIGINS/)
    expect(output).toMatch(/entry 2 of 2/)
    expect(output).not.toContain(PASSWORD)
    expect(output).not.toContain(encodeURIComponent(PASSWORD))
  })
})
