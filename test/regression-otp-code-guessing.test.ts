import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { MAX_WRONG_CODES } from '../src/routes/auth/pending-logins.js'
import { DEMO, onCleanup, setup } from './helpers/app.js'
import { V2, exactPath } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'

const VERIFY = V2.paths.auth.passwordlessVerify as string
/** Limits far above the guesses made here: the cap under test is the pending log-in's own. */
const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

function wrong (code: string): string {
  return code === '000000' ? '111111' : '000000'
}

/**
 * Regression (found attacking issue 12): a wrong code put the pending log-in back as it was, so
 * one e-mailed code could be guessed at for its whole 10 minutes, as fast as the per-account limit
 * (shared with password log-ins) allowed, and for an address Ejento refused (no otp session: every
 * code is wrong, no upstream call) without any end. Now a pending log-in survives MAX_WRONG_CODES
 * wrong codes; then a new code must be asked for.
 */
describe('regression: an e-mailed code could be guessed at until it expired', () => {
  it('after the last wrong code the pending log-in is over: even the right code is refused, and never sent upstream', async () => {
    const context = await setup({ profile: V2, env: LIMITS })
    const started = await context.app.inject({ method: 'POST', url: '/auth/passwordless/start', payload: { email: DEMO.email } })
    const cookie = started.cookies.map((c) => `${c.name}=${c.value}`).join('; ')
    const code = context.sim.lastMail(DEMO.email)?.code as string
    for (let attempt = 0; attempt < MAX_WRONG_CODES; attempt++) {
      const refused = await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', payload: { code: wrong(code) }, headers: { cookie } })
      expect(refused.json().code).toBe('invalid_code')
    }
    const late = await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', payload: { code }, headers: { cookie } })
    expect(late.statusCode, late.body).toBe(400)
    expect(late.json().code).toBe('passwordless_not_started')
    // By address too: the record is gone, not only the cookie's way to it.
    const byEmail = await context.app.inject({ method: 'POST', url: '/auth/passwordless/verify', payload: { code, email: DEMO.email } })
    expect(byEmail.json().code).toBe('passwordless_not_started')
    expect(context.sim.requestsTo('auth', exactPath(VERIFY))).toHaveLength(MAX_WRONG_CODES)
  })

  it('on the compiled server, an address Ejento refused stops taking codes after the same count', async () => {
    const sim = await startSimulator(V2.sim)
    onCleanup(sim.close)
    const server = await startRealServer(sim, { ...V2.env, ...LIMITS })
    const post = async (path: string, body: unknown, cookie?: string): Promise<Response> => await fetch(`${server.base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(cookie === undefined ? {} : { cookie }) },
      body: JSON.stringify(body)
    })
    const started = await post('/auth/passwordless/start', { email: 'nobody@example.com' })
    expect(started.status).toBe(202)
    const cookie = started.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ')
    const codes: string[] = []
    for (let attempt = 0; attempt <= MAX_WRONG_CODES; attempt++) codes.push(((await (await post('/auth/passwordless/verify', { code: '123456' }, cookie)).json()) as { code: string }).code)
    expect(codes).toEqual([...Array(MAX_WRONG_CODES).fill('invalid_code'), 'passwordless_not_started'])
  })
})
