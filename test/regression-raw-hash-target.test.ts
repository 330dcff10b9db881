import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { rawRequest } from './helpers/raw-http.js'
import type { RawAnswer } from './helpers/raw-http.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

interface Running {
  sim: Simulator
  server: RealServer
  cookie: string
}

/** The simulator, the compiled server in front of it on a real socket, and a logged-in session. */
async function running (): Promise<Running> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: sim.apiUrl })
  return { sim, server, cookie: await realLogin(server.base) }
}

function expectProblem (answer: RawAnswer, status: number, code: string): void {
  expect(answer.statusCode, answer.body).toBe(status)
  expect(answer.headers['content-type']).toContain('application/problem+json')
  expect(JSON.parse(answer.body)).toMatchObject({ status, code })
}

/** The session still works: nothing revoked its tokens. */
async function expectSessionAlive ({ server, cookie }: Running): Promise<void> {
  const me = await fetch(`${server.base}/proxy/auth/api/users/me`, { headers: { cookie } })
  expect(me.status).toBe(200)
  expect(await me.json()).toMatchObject({ email: 'demo@example.com' })
  expect(await alive(server)).toBe(true)
}

describe('regression: a raw # in the request target walked past the token-path refusal (issue 10)', () => {
  it('POST /proxy/auth/api/users/refresh-access-token# is refused (400 unsafe_path); the upstream refresh is never called', async () => {
    const context = await running()
    const before = context.sim.requests.length
    const answer = await rawRequest(context.server.base, 'POST', '/proxy/auth/api/users/refresh-access-token#', { cookie: context.cookie })
    expectProblem(answer, 400, 'unsafe_path')
    expect(answer.body).not.toMatch(/access_token|eyJ/)
    expect(context.sim.requests.slice(before)).toEqual([])
    expect(context.sim.counter('refresh')).toBe(0)
    await expectSessionAlive(context)
  })

  it('POST /proxy/auth/api/users/signup# is refused (400 unsafe_path); no account is created past the sign-up rate limit', async () => {
    const context = await running()
    const before = context.sim.requests.length
    const body = JSON.stringify({ email: 'hash-bypass@example.com', password: 'long-enough-password' })
    const answer = await rawRequest(context.server.base, 'POST', '/proxy/auth/api/users/signup#', { cookie: context.cookie, 'content-type': 'application/json' }, body)
    expectProblem(answer, 400, 'unsafe_path')
    expect(context.sim.requests.slice(before)).toEqual([])
    expect(context.sim.counter('signup')).toBe(0)
    expect(context.sim.state.userByEmail('hash-bypass@example.com')).toBeUndefined()
  })

  it('every other target with a raw # is refused, and one with an encoded # or ? that names a token path too; none reaches an upstream', async () => {
    const context = await running()
    const cases: Array<[string, number, string]> = [
      ['/proxy/auth/api/users/refresh-access-token#x', 400, 'unsafe_path'],
      ['/proxy/auth/api/users/refresh-access-token?#', 400, 'unsafe_path'],
      ['/proxy/auth/api/users/refresh-access-token#/../me', 400, 'unsafe_path'],
      ['/proxy/auth/api/login/access-token#', 400, 'unsafe_path'],
      ['/proxy/ejento/api/users/signup#', 400, 'unsafe_path'],
      ['/proxy/ejento/api/agents#top', 400, 'unsafe_path'],
      // Encoded, the # is data; a server that decodes before it parses would still cut there.
      ['/proxy/auth/api/users/refresh-access-token%23', 403, 'path_forbidden'],
      ['/proxy/auth/api/users/signup%2523x', 403, 'path_forbidden'],
      ['/proxy/auth/api/users/refresh-access-token%3F', 403, 'path_forbidden']
    ]
    const before = context.sim.requests.length
    for (const [target, status, code] of cases) {
      const answer = await rawRequest(context.server.base, 'POST', target, { cookie: context.cookie })
      expect([answer.statusCode, JSON.parse(answer.body).code], target).toEqual([status, code])
      expect(answer.headers['content-type'], target).toContain('application/problem+json')
    }
    expect(context.sim.requests.slice(before)).toEqual([])
    expect(context.sim.counter('refresh')).toBe(0)
    await expectSessionAlive(context)
  })
})

describe('regression: an absolute-form target was cut at the length of the route prefix', () => {
  it('GET http://evil/proxy/auth/api/users/me sends /api/users/me upstream (it sent /proxy/auth/api/users/me)', async () => {
    const context = await running()
    const before = context.sim.requests.length
    const answer = await rawRequest(context.server.base, 'GET', 'http://evil/proxy/auth/api/users/me', { cookie: context.cookie })
    expect(answer.statusCode, answer.body).toBe(200)
    expect(JSON.parse(answer.body)).toMatchObject({ email: 'demo@example.com' })
    expect(context.sim.requests.slice(before).map((record) => record.url)).toEqual(['/api/users/me'])
  })

  it('an absolute-form target with the server\'s own host is forwarded as its path and query (it was refused)', async () => {
    const context = await running()
    const before = context.sim.requests.length
    const answer = await rawRequest(context.server.base, 'GET', `${context.server.base}/proxy/ejento/api/agents?a=1&b=%20x`, { cookie: context.cookie })
    expect(answer.statusCode, answer.body).toBe(200)
    expect(context.sim.requests.slice(before).map((record) => record.url)).toEqual(['/api/agents?a=1&b=%20x'])
  })

  it('absolute-form and asterisk-form targets get past nothing', async () => {
    const context = await running()
    const cases: Array<[string, string, number, string]> = [
      ['POST', 'http://evil/proxy/auth/api/users/refresh-access-token', 403, 'path_forbidden'],
      ['POST', 'HTTP://evil.example/proxy/auth/api/login/access-token', 403, 'path_forbidden'],
      ['POST', 'http://evil/proxy/auth/api/users/%2e%2e/signup', 400, 'unsafe_path'],
      // The router itself refuses a fragment in an absolute-form target.
      ['POST', 'http://evil/proxy/auth/api/users/signup#', 400, 'bad_url'],
      ['POST', '*', 404, 'not_found'],
      ['OPTIONS', '*', 404, 'not_found']
    ]
    const before = context.sim.requests.length
    for (const [method, target, status, code] of cases) {
      const answer = await rawRequest(context.server.base, method, target, { cookie: context.cookie })
      expect([answer.statusCode, JSON.parse(answer.body).code], `${method} ${target}`).toEqual([status, code])
      expect(answer.headers['content-type'], target).toContain('application/problem+json')
    }
    expect(context.sim.requests.slice(before)).toEqual([])
    await expectSessionAlive(context)
  })
})
