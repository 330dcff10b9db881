import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onFileCleanup, setup } from './helpers/app.js'
import { V2 } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

const LOGIN_COOKIE = 'ejento_bff-login'
const LIMITS = { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

/** Paths that pass as "/ then not /" but that dot segments turn into `//evil.example...`. */
const DOT_SEGMENT_ESCAPES = ['/.//evil.example', '/..//evil.example', '/a/..//evil.example/x', '/%2e//evil.example', '/%2E%2E//evil.example/?q=1']

/**
 * Regression: `return_to` of `GET /auth/sso/:provider` was checked before its dot segments were
 * resolved: `/.//evil.example` is a relative path, but normalised it is `//evil.example`, and
 * without PUBLIC_URL the callback answered `Location: //evil.example`, which browsers follow
 * to another site. A link to the BFF's own SSO log-in sent the user, freshly logged in, to the
 * attacker's page (an open redirect after log-in: a "session expired, enter your password" page).
 */
describe('regression: return_to with dot segments redirected off-site after an SSO log-in', () => {
  let server: RealServer

  beforeAll(async () => {
    const sim = await startSimulator(V2.sim)
    onFileCleanup(sim.close)
    server = await startRealServer(sim, { ...V2.env, ...LIMITS }, onFileCleanup)
  })

  it.each(DOT_SEGMENT_ESCAPES)('compiled server: return_to %s is 400 invalid_return_to, and nothing starts', async (returnTo) => {
    const started = await fetch(`${server.base}/auth/sso/google?return_to=${encodeURIComponent(returnTo)}`, { redirect: 'manual' })
    expect(started.status).toBe(400)
    expect(((await started.json()) as { code?: string }).code).toBe('invalid_return_to')
    expect(started.headers.get('location')).toBeNull()
    expect(started.headers.getSetCookie().some((line) => line.startsWith(`${LOGIN_COOKIE}=`))).toBe(false)
  })

  it('compiled server: a dot segment that stays on the app still lands on the app, on a path of its own', async () => {
    const started = await fetch(`${server.base}/auth/sso/google?return_to=${encodeURIComponent('/a/../chat')}`, { redirect: 'manual' })
    expect(started.status).toBe(302)
    const preLogin = started.headers.getSetCookie().map((line) => line.split(';')[0] as string).find((pair) => pair.startsWith(`${LOGIN_COOKIE}=`)) as string
    const atIdp = await fetch(started.headers.get('location') as string, { redirect: 'manual' })
    const landed = await fetch(atIdp.headers.get('location') as string, { redirect: 'manual', headers: { cookie: preLogin } })
    expect(landed.status).toBe(302)
    expect(landed.headers.get('location')).toBe('/chat')
  })

  it.each(DOT_SEGMENT_ESCAPES)('inject: return_to %s is 400 invalid_return_to', async (returnTo) => {
    const context = await setup({ profile: V2, env: LIMITS })
    const answer = await context.app.inject({ method: 'GET', url: `/auth/sso/google?return_to=${encodeURIComponent(returnTo)}` })
    expect(answer.statusCode).toBe(400)
    expect(answer.json().code).toBe('invalid_return_to')
  })
})
