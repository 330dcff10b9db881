import { beforeAll, describe, expect, it } from 'vitest'
import { ClientError, createClient } from '../client/src/index.js'
import { startSimulator } from '../src/simulator/index.js'
import { DEMO, onFileCleanup } from './helpers/app.js'
import { browser } from './helpers/client-browser.js'
import { GUIDE } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

const PASSWORD = 'Base-Url-Pass+Never=Echoed0123'

/**
 * `baseUrl` (F6, found attacking issue 13): an http(s) URL or a path of the page's own origin,
 * with nothing a URL parser would drop, resolve or send elsewhere; anything else is ClientError
 * `invalid_base_url` at createClient, before any call, its message never repeating the value.
 */
describe('createClient checks baseUrl', () => {
  const refused: Array<[string, string]> = [
    ['another scheme', 'ftp://bff.example'],
    ['a script', 'javascript:alert(1)'],
    ['a data URL', 'data:text/plain,x'],
    ['credentials', `https://user:${PASSWORD}@bff.example`],
    ['a user name alone', `https://${PASSWORD}@bff.example`],
    ['a query', 'https://bff.example/bff?x=1'],
    ['an empty query', 'https://bff.example/?'],
    ['a fragment', 'https://bff.example/#top'],
    ['a protocol-relative address (another origin)', '//evil.example'],
    ['a backslash (another origin to a browser)', '/\\evil.example'],
    ['a relative path', 'chat-api'],
    ['no // before the host', 'https:bff.example'],
    ['a dot segment', 'https://bff.example/a/../b'],
    ['a dot segment in a path', '/bff/..'],
    ['an encoded dot segment', '/bff/%2e%2e'],
    ['a leading space', ' https://bff.example'],
    ['a tab', 'https://bff.exa\tmple'],
    ['not a URL', 'https://bff example']
  ]
  for (const [what, baseUrl] of refused) {
    it(`refuses ${what}`, () => {
      let failure: unknown
      try {
        createClient({ baseUrl })
      } catch (error) {
        failure = error
      }
      expect(failure).toBeInstanceOf(ClientError)
      expect(failure).toMatchObject({ name: 'ClientError', code: 'invalid_base_url' })
      expect((failure as Error).message).not.toContain(PASSWORD)
      expect((failure as Error).message).not.toContain(baseUrl)
    })
  }

  it('refuses a value that is not a string (from plain JavaScript)', () => {
    expect(() => createClient({ baseUrl: new URL('https://bff.example') as unknown as string })).toThrow(expect.objectContaining({ code: 'invalid_base_url' }))
  })

  it('takes the page\'s own origin, a path of it, and http(s) URLs with a path prefix', () => {
    for (const baseUrl of ['', '/', '/bff', '/bff/', 'https://bff.example', 'https://bff.example/', 'http://127.0.0.1:3000/chat/api', 'HTTPS://BFF.example:8443']) {
      expect(() => createClient({ baseUrl }), baseUrl).not.toThrow()
    }
    expect(createClient({ baseUrl: '/bff/' }).ssoUrl('google')).toBe('/bff/auth/sso/google')
    expect(createClient({ baseUrl: 'https://bff.example/chat/' }).ssoUrl('google', { returnTo: '/x' })).toBe('https://bff.example/chat/auth/sso/google?return_to=%2Fx')
  })
})

describe('an accepted baseUrl reaches the compiled BFF', () => {
  let server: RealServer

  beforeAll(async () => {
    const sim = await startSimulator(GUIDE.sim)
    onFileCleanup(sim.close)
    server = await startRealServer(sim, GUIDE.env, onFileCleanup)
  })

  it('with a trailing slash, logs in and reads the session', async () => {
    const { client } = browser({ base: `${server.base}/` })
    await client.login(DEMO)
    expect(await client.session()).toMatchObject({ authenticated: true })
  })
})
