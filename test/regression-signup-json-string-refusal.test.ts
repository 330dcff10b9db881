import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { onFileCleanup, setup } from './helpers/app.js'
import { PROFILES, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (outside attack on issue 13, F3): when the authentication server refused a sign-up
 * with a bare JSON string (`"email already used"`, as a FastAPI handler returning a str does),
 * the BFF answered `text/plain`, a content type the OpenAPI document does not list for sign-up.
 * Such a refusal is now the problem JSON every other BFF error is: `upstream_rejected` at the
 * upstream's status, the upstream's sentence as its detail, minus anything the call carried.
 */

const ACCOUNT = { email: 'taken@example.com', password: 'taken-account-password-1', full_name: 'Taken' }
const JSON_TYPE = { 'content-type': 'application/json' }

interface Answer { status: number, type: string | null, body: Record<string, unknown> }

describe.each(PROFILES)('a sign-up refused with a bare JSON string, on %s', (_name, profile: TestProfile) => {
  const signupPath = exactPath(profile.paths.auth.signup)

  async function signup (upstreamBody: string): Promise<Answer> {
    const context = await setup({ profile })
    context.sim.inject({ upstream: 'auth', method: 'POST', path: signupPath, status: 422, body: upstreamBody, headers: JSON_TYPE })
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: ACCOUNT })
    expect(context.sim.requestsTo('auth', signupPath)).toHaveLength(1)
    return { status: response.statusCode, type: response.headers['content-type']?.toString() ?? null, body: response.json() }
  }

  it('is a 422 problem upstream_rejected whose detail is the upstream\'s sentence', async () => {
    const answer = await signup('"email already used"')
    expect(answer.status).toBe(422)
    expect(answer.type).toBe('application/problem+json; charset=utf-8')
    expect(answer.body).toEqual({ type: 'about:blank', title: 'Unprocessable Content', status: 422, code: 'upstream_rejected', detail: 'email already used' })
  })

  it('never repeats the password, even when the upstream\'s sentence does', async () => {
    const answer = await signup(JSON.stringify(`password ${ACCOUNT.password} is too common`))
    expect(answer.status).toBe(422)
    expect(answer.body).toMatchObject({ code: 'upstream_rejected', detail: 'password [withheld] is too common' })
    expect(JSON.stringify(answer.body)).not.toContain(ACCOUNT.password)
  })

  it('is documented: sign-up\'s 422 lists application/problem+json with the Problem schema', async () => {
    const context = await setup({ profile })
    const document = (await context.app.inject({ method: 'GET', url: '/docs/json' })).json()
    const refusal = document.paths['/auth/signup'].post.responses['422']
    expect(refusal.content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' })
  })
})

describe.each(PROFILES)('a sign-up refused with a bare JSON string, through the compiled server on a real socket, on %s', (_name, profile: TestProfile) => {
  let sim: Simulator
  let server: RealServer

  beforeAll(async () => {
    sim = await startSimulator({ ...profile.sim })
    onFileCleanup(sim.close)
    server = await startRealServer(sim, profile.env, onFileCleanup)
  })

  it('answers the problem JSON, not text/plain', async () => {
    sim.inject({ upstream: 'auth', method: 'POST', path: exactPath(profile.paths.auth.signup), status: 422, body: '"email already used"', headers: JSON_TYPE })
    const response = await fetch(`${server.base}/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ACCOUNT) })
    expect(response.status).toBe(422)
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8')
    expect(await response.json()).toEqual({ type: 'about:blank', title: 'Unprocessable Content', status: 422, code: 'upstream_rejected', detail: 'email already used' })
  })
})
