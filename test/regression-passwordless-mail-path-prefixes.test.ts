import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { V2 } from './helpers/profiles.js'
import { rawRequest } from './helpers/raw-http.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'

/**
 * The same endpoints under prefixes the v2 path table does not name: another API version, no
 * service prefix, the other upstream (both base URLs are api.ejento.ai on hosted Ejento).
 */
const SPELLINGS = [
  '/auth-service/api/v1/users/passwordless-auth',
  '/auth-service/api/v3/users/passwordless-auth/',
  '/api/v2/users/passwordless-auth',
  '/api/v2/users/PASSWORDLESS-AUTH',
  '/auth-service/api/v1/users/passwordless%2Dauth',
  '/auth-service/api/v1/users/validate-magic-link',
  '/api/users/validate-magic-link;v=1'
]

/**
 * Regression: the passthrough refused hosted Ejento's password-less start and magic-link
 * validation only at the v2 table's exact paths (`/auth-service/api/v2/users/...`), while the
 * log-in, token and verify-otp segments are refused under any prefix (forbidden-paths.ts: "no
 * service prefix ... gets around the refusal"). Through any other prefix a gateway routes, a
 * logged-in user could have Ejento, with the BFF's subscription key, mail anyone a code and a
 * magic link to a `next` of her choosing (the victim's tokens on her URL), unlimited by the
 * start's rate limits; and trade a magic link for tokens the browser must never see.
 */
describe('regression: password-less mail and magic-link paths were reachable through the passthrough under other prefixes', () => {
  it('compiled server: 403 path_forbidden on both passthroughs in every spelling, and nothing reaches an upstream', async () => {
    const sim = await startSimulator(V2.sim)
    onCleanup(sim.close)
    const server = await startRealServer(sim, V2.env)
    const cookie = await realLogin(server.base)
    const before = sim.requests.length
    const body = JSON.stringify({ email: 'admin@example.com', next: 'https://evil.example/landing' })
    for (const prefix of ['/proxy/auth', '/proxy/ejento']) {
      for (const path of SPELLINGS) {
        const answer = await rawRequest(server.base, 'POST', `${prefix}${path}`, { cookie, 'content-type': 'application/json' }, body)
        expect(answer.statusCode, `${prefix}${path}`).toBe(403)
        expect(JSON.parse(answer.body), `${prefix}${path}`).toMatchObject({ status: 403, code: 'path_forbidden' })
      }
    }
    expect(sim.requests.slice(before).map((request) => `${request.method} ${request.path}`)).toEqual([])
    expect(sim.lastMail('admin@example.com')).toBeUndefined()
    // Neighbours still pass.
    expect((await rawRequest(server.base, 'GET', '/proxy/ejento/api/v2/users/me', { cookie })).statusCode).toBe(200)
    expect(await alive(server)).toBe(true)
  })
})
