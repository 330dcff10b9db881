import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { rawRequest } from './helpers/raw-http.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'

/** The passwordless log-in's second step (contract, "Hosted Ejento"): a one-time code traded for both tokens. */
const VERIFY_OTP = '/auth-service/api/v2/users/verify-otp'

/**
 * Regression (attack on issue 10's token-path refusal): hosted Ejento's `verify-otp` answers
 * with both tokens, as a log-in does, yet both passthroughs forwarded it (on either profile,
 * and through the Ejento passthrough when both upstreams share a gateway host). Now it is
 * refused like every token-issuing path, however it is spelled.
 */
describe('regression: the passwordless token path was reachable through the passthrough', () => {
  it('verify-otp is 403 path_forbidden on both passthroughs, in every spelling, and never reaches an upstream', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: sim.apiUrl })
    const cookie = await realLogin(server.base)
    const before = sim.requests.length
    const body = JSON.stringify({ email: 'demo@example.com', code: '123456' })
    const spellings = [VERIFY_OTP, `${VERIFY_OTP}/`, VERIFY_OTP.toUpperCase(), `${VERIFY_OTP};v=1`, VERIFY_OTP.replace('verify-otp', 'verify%2Dotp'), VERIFY_OTP.replace('verify-otp', 'verify%252dotp'), '/api/v1/users/verify-otp']
    for (const prefix of ['/proxy/auth', '/proxy/ejento']) {
      for (const path of spellings) {
        const answer = await rawRequest(server.base, 'POST', `${prefix}${path}`, { cookie, 'content-type': 'application/json' }, body)
        expect(answer.statusCode, `${prefix}${path}`).toBe(403)
        expect(JSON.parse(answer.body), `${prefix}${path}`).toMatchObject({ status: 403, code: 'path_forbidden' })
      }
    }
    expect(sim.requests.slice(before)).toEqual([])
    // Neighbouring paths still pass: only the token path is refused.
    const other = await rawRequest(server.base, 'GET', '/proxy/auth/api/users/me', { cookie })
    expect(other.statusCode).toBe(200)
    expect(await alive(server)).toBe(true)
  })
})
