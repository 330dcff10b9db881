import { randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { censorUrl } from '../src/logger.js'
import { startSimulator } from '../src/simulator/index.js'
import { DEMO, onCleanup } from './helpers/app.js'
import { spawnServer, waitFor } from './helpers/processes.js'
import { REAL_SECRET, realLogin, startRealServer } from './helpers/real-server.js'
import { REDIS_URL, describeWithRedis, testPrefix } from './helpers/redis.js'

/** A value no log line can hold by chance: finding it anywhere means it leaked. */
function secret (name: string): string {
  return `${name}-${randomBytes(9).toString('hex')}`
}

async function simulator (): Promise<{ authUrl: string, apiUrl: string }> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  return sim
}

/** One request exactly as written (the target is not normalised as fetch would); answers the status. */
async function rawRequest (base: string, method: string, target: string, headers: Record<string, string> = {}): Promise<number> {
  const { hostname, port } = new URL(base)
  return await new Promise<number>((resolve, reject) => {
    const outgoing = httpRequest({ host: hostname, port, method, path: target, headers, timeout: 10_000 }, (answer) => {
      answer.resume()
      answer.on('end', () => resolve(answer.statusCode ?? 0))
    })
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${target} timed out`)))
    outgoing.on('error', reject)
    outgoing.end()
  })
}

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('censorUrl: what the request line logs of a URL', () => {
  it.each([
    ['/auth/login?username=demo%40example.com&password=hunter2', '/auth/login?username=[redacted]&password=[redacted]'],
    ['/auth/session?anything=x&flag', '/auth/session?anything=[redacted]&[redacted]'],
    ['/AUTH//login?x=1', '/AUTH//login?x=[redacted]'],
    ['/%61uth/login?x=1', '/%61uth/login?x=[redacted]'],
    ['//proxy/auth/api/users/me?email=a%40b.c', '//proxy/auth/api/users/me?email=[redacted]'],
    ['http://bff.example/auth/login?password=p', 'http://bff.example/auth/login?password=[redacted]'],
    ['/proxy/ejento/api/v2/x?page=2&access_token=t&ejento_access_token=e', '/proxy/ejento/api/v2/x?page=2&access_token=[redacted]&ejento_access_token=[redacted]'],
    ['/proxy/ejento/x?code=c&otp=o&client_secret=s&api_key=k&Subscription-Key=k2&sig=g', '/proxy/ejento/x?code=[redacted]&otp=[redacted]&client_secret=[redacted]&api_key=[redacted]&Subscription-Key=[redacted]&sig=[redacted]'],
    ['/proxy/ejento/x?new_password=n&current_password=c&Password=P', '/proxy/ejento/x?new_password=[redacted]&current_password=[redacted]&Password=[redacted]'],
    ['/proxy/ejento/x?pass%77ord=p&access+token=t&%zz=z', '/proxy/ejento/x?pass%77ord=[redacted]&access+token=[redacted]&%zz=[redacted]'],
    ['/proxy/ejento/x?page=1;token=t', '/proxy/ejento/x?page=1;token=[redacted]'],
    ['/proxy/ejento/x?page=1#token=t', '/proxy/ejento/x?page=1#[redacted]'],
    ['/proxy/%zz/x?page=1', '/proxy/%zz/x?page=[redacted]'],
    ['/proxy/ejento/x?page=1&search=cats', '/proxy/ejento/x?page=1&search=cats'],
    ['/healthz', '/healthz']
  ])('%s', (url, logged) => {
    expect(censorUrl(url)).toBe(logged)
  })
})

describe('regression: credentials in a request URL never reach the logs (compiled server)', () => {
  it('censors query credentials on the request line of log-ins, sessions, passthroughs, bad and absolute-form targets', async () => {
    const sim = await simulator()
    const server = await startRealServer(sim)
    const cookie = await realLogin(server.base)
    const secrets = {
      loginPassword: secret('login-password'),
      loginUser: secret('login-user'),
      sessionToken: secret('session-token'),
      accessToken: secret('access-token'),
      ejentoToken: secret('ejento-token'),
      apiKey: secret('api-key'),
      authAppEmail: secret('auth-app-email'),
      badUrlPassword: secret('bad-url-password'),
      absolutePassword: secret('absolute-password'),
      fragmentToken: secret('fragment-token')
    }
    const loginAnswer = await fetch(`${server.base}/auth/login?username=${secrets.loginUser}&password=${secrets.loginPassword}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(DEMO)
    })
    expect(loginAnswer.status).toBeLessThan(500)
    expect((await fetch(`${server.base}/auth/session?token=${secrets.sessionToken}`, { headers: { cookie } })).status).toBe(200)
    const passthrough = await fetch(`${server.base}/proxy/ejento/api/v2/agents?page=7&access_token=${secrets.accessToken}&ejento_access_token=${secrets.ejentoToken}&api_key=${secrets.apiKey}`, { headers: { cookie } })
    expect(passthrough.status).toBeLessThan(500)
    expect((await fetch(`${server.base}/proxy/auth/api/users/me?email=${secrets.authAppEmail}`, { headers: { cookie } })).status).toBeLessThan(500)
    // The router refuses a malformed escape, and its error message quotes the whole target.
    expect(await rawRequest(server.base, 'GET', `/auth/%zz?password=${secrets.badUrlPassword}`)).toBe(400)
    expect(await rawRequest(server.base, 'POST', `${server.base}/auth/login?password=${secrets.absolutePassword}`, { 'content-type': 'application/json', 'content-length': '0' })).toBeLessThan(500)
    expect(await rawRequest(server.base, 'GET', `/healthz?x=1#token=${secrets.fragmentToken}`)).toBeLessThan(500)

    // Every request above was logged (its request line), the last one too.
    expect(await waitFor(() => server.logs().some((line) => String((line.req as { url?: string } | undefined)?.url).startsWith('/healthz?x=1')), 10_000)).toBe(true)
    const output = server.stdout() + server.stderr()
    for (const [name, value] of Object.entries(secrets)) {
      expect(output.includes(value), `${name} is in the logs`).toBe(false)
    }
    const urls = server.logs().map((line) => (line.req as { url?: string } | undefined)?.url).filter((url) => url !== undefined)
    expect(urls).toContain('/auth/login?username=[redacted]&password=[redacted]')
    expect(urls).toContain('/auth/session?token=[redacted]')
    // What is not a credential stays, for whoever reads the logs.
    expect(urls).toContain('/proxy/ejento/api/v2/agents?page=7&access_token=[redacted]&ejento_access_token=[redacted]&api_key=[redacted]')
    expect(urls).toContain('/auth/%zz?password=[redacted]')
    expect(server.logs().some((line) => line.code === 'FST_ERR_BAD_URL')).toBe(true)
  })
})

describe('regression: a Redis URL with credentials is never logged (compiled server)', () => {
  it('Redis unreachable: the error line names the host, not the user, password or query', async () => {
    const sim = await simulator()
    const password = secret('redis-password')
    const user = secret('redis-user')
    const queryPassword = secret('redis-query-password')
    const port = await closedPort()
    const server = await startRealServer(sim, { REDIS_URL: `redis://${user}:${password}@127.0.0.1:${port}/0?password=${queryPassword}` })
    expect(await waitFor(() => server.logs().some((line) => String(line.msg).startsWith('Redis is unreachable')), 15_000)).toBe(true)
    const line = server.logs().find((candidate) => String(candidate.msg).startsWith('Redis is unreachable'))
    expect(line?.redis).toBe(`redis://***@127.0.0.1:${port}/0?password=***`)
    const output = server.stdout() + server.stderr()
    for (const value of [password, user, queryPassword]) expect(output.includes(value), `${value} is in the logs`).toBe(false)
  })

  it('a configuration error about REDIS_URL does not echo it', async () => {
    const password = secret('redis-password')
    const server = await spawnServer({ EJENTO_AUTH_URL: 'http://127.0.0.1:9', EJENTO_API_URL: 'http://127.0.0.1:9', SESSION_SECRET: REAL_SECRET, REDIS_URL: `http://:${password}@127.0.0.1:6379` })
    const exit = await server.exited
    expect(exit.code).toBe(1)
    expect(exit.stderr).toContain('REDIS_URL')
    expect(exit.stdout + exit.stderr).not.toContain(password)
  })
})

describeWithRedis('regression: a Redis URL with credentials is never logged, Redis up (compiled server)', () => {
  it('Redis ready: the ready line names the host, not the password; sessions work', async () => {
    const sim = await simulator()
    const password = secret('redis-password')
    const queryPassword = secret('redis-query-password')
    // The default user of a Redis without ACLs accepts any password: the connection succeeds.
    const url = new URL(REDIS_URL)
    url.username = 'default'
    url.password = password
    url.search = `?password=${queryPassword}`
    const server = await startRealServer(sim, { REDIS_URL: url.toString(), REDIS_KEY_PREFIX: testPrefix() })
    expect(await waitFor(() => server.logs().some((line) => line.msg === 'Redis connection ready'), 15_000)).toBe(true)
    const cookie = await realLogin(server.base)
    expect(await (await fetch(`${server.base}/auth/session`, { headers: { cookie } })).json()).toMatchObject({ authenticated: true })
    const line = server.logs().find((candidate) => candidate.msg === 'Redis connection ready')
    expect(line?.redis).toBe(`redis://***@${url.host}${url.pathname}?password=***`)
    const output = server.stdout() + server.stderr()
    for (const value of [password, queryPassword]) expect(output.includes(value), `${value} is in the logs`).toBe(false)
  })
})
