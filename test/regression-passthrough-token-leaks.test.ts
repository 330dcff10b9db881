import { describe, expect, it } from 'vitest'
import { decodedPath } from '../src/proxy/path.js'
import { login, setup } from './helpers/app.js'

/**
 * Regression: with both upstream URLs on one host (as hosted Ejento's gateway allows), the
 * Ejento passthrough reached the log-in endpoint and handed the browser a pair of tokens.
 */
describe('passthrough never hands out a token (review finding: shared upstream host)', () => {
  it('refuses log-in, token and sign-up paths on /proxy/ejento too, whatever the prefix', async () => {
    const other = await setup()
    // The Ejento passthrough points at an authentication server: a shared gateway host.
    const shared = await setup({ env: { EJENTO_API_URL: other.sim.authUrl } })
    const sharedCookie = await login(shared)
    const before = shared.sim.requests.length
    for (const path of [
      '/proxy/ejento/api/login/access-token',
      '/proxy/ejento/auth-service/api/v1/login/access-token',
      '/proxy/ejento/api/users/refresh-access-token',
      '/proxy/ejento/api/users/signup',
      '/proxy/auth/api/users/signup',
      '/proxy/auth/auth-service/api/v9/login/access-token',
      '/proxy/auth/api/LOGIN/access-token'
    ]) {
      const answer = await shared.app.inject({
        method: 'POST',
        url: path,
        headers: { cookie: sharedCookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'username=demo@example.com&password=demo-password'
      })
      expect(answer.statusCode, path).toBe(403)
      expect(answer.json().code, path).toBe('path_forbidden')
      expect(answer.body).not.toMatch(/eyJ/)
    }
    // Neither server behind either passthrough saw any of these calls.
    expect(shared.sim.requests.slice(before)).toHaveLength(0)
    expect(other.sim.requests).toHaveLength(0)
  })

  it('refuses token paths hidden by double encoding, ;parameters and trailing dots or spaces (review finding)', async () => {
    const context = await setup()
    const cookie = await login(context)
    const before = context.sim.requests.length
    const cases: Array<[string, number, string]> = [
      ['/proxy/auth/api/users/%2572efresh-access-token', 403, 'path_forbidden'],
      ['/proxy/auth/api/users/refresh-access-token;x=1', 403, 'path_forbidden'],
      ['/proxy/auth/api/users/refresh-access-token%20', 403, 'path_forbidden'],
      ['/proxy/auth/api/users/refresh-access-token.', 403, 'path_forbidden'],
      ['/proxy/auth/api/%256Cogin/access-token', 403, 'path_forbidden'],
      // A slash encoded twice is refused as unsafe before the token-path check.
      ['/proxy/auth/api/login%252faccess-token', 400, 'unsafe_path']
    ]
    for (const [path, status, code] of cases) {
      const answer = await context.app.inject({ method: 'POST', url: path, headers: { cookie } })
      expect(answer.statusCode, path).toBe(status)
      expect(answer.json().code, path).toBe(code)
    }
    expect(context.sim.requests.slice(before)).toHaveLength(0)
  })

  it('removes token fields from a JSON answer of either upstream, and echoed input from the authentication server', async () => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 200, body: { success: true, data: { access_token: 'leaked-a', ejento_access_token: 'leaked-b', name: 'kept' } } })
    const ejento = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
    expect(ejento.statusCode).toBe(200)
    expect(ejento.json()).toEqual({ success: true, data: { name: 'kept' } })

    context.sim.inject({ upstream: 'auth', path: '/api/users/me', status: 422, body: { detail: [{ loc: ['body', 'password'], msg: 'too long', input: 'my-secret-password' }] } })
    const auth = await context.app.inject({ method: 'GET', url: '/proxy/auth/api/users/me', headers: { cookie } })
    expect(auth.statusCode).toBe(422)
    expect(auth.body).not.toContain('my-secret-password')
    expect(auth.json()).toEqual({ detail: [{ loc: ['body', 'password'], msg: 'too long' }] })
  })

  it('passes other JSON and non-JSON answers through byte for byte', async () => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 200, body: '  {"spaced" :  true}  ', headers: { 'content-type': 'application/json' } })
    const spaced = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
    expect(spaced.body).toBe('  {"spaced" :  true}  ')
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 200, body: 'plain text, not JSON' })
    const text = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
    expect(text.body).toBe('plain text, not JSON')
  })
})

describe('the token-path check on pathological segments (review finding: a regex backtracked quadratically)', () => {
  it('reads a segment of 200,000 dots and a letter in linear time (the quadratic version takes minutes)', () => {
    const segment = `${'.'.repeat(200_000)}x`
    expect(decodedPath(`/api/${segment}`)).toBe(`/api/${segment}`)
    expect(decodedPath(`/api/refresh-access-token${'.'.repeat(200_000)}`)).toBe('/api/refresh-access-token')
  })
})
