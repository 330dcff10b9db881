import { describe, expect, it } from 'vitest'
import { DEMO, setup } from './helpers/app.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i
const LOGIN_PATH = /^\/api\/login\/access-token$/

/** The parsed JSON log lines that carry `reqId`. */
function logLinesFor (logs: readonly string[], requestId: string): Array<Record<string, unknown>> {
  return logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.reqId === requestId)
}

describe('security headers', () => {
  it('sends helmet\'s headers on JSON answers', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'GET', url: '/auth/session' })
    expect(response.statusCode).toBe(200)
    const csp = String(response.headers['content-security-policy'])
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(String(response.headers['x-frame-options']).toUpperCase()).toMatch(/^(DENY|SAMEORIGIN)$/)
    expect(response.headers['referrer-policy']).toBe('no-referrer')
    const hsts = String(response.headers['strict-transport-security'])
    expect(hsts).toMatch(/max-age=\d+/)
    expect(Number(/max-age=(\d+)/.exec(hsts)?.[1])).toBeGreaterThanOrEqual(15_552_000)
    expect(response.headers['x-powered-by']).toBeUndefined()
  })

  it('sends them on problem answers and on the log-in too', async () => {
    const context = await setup()
    const notFound = await context.app.inject({ method: 'GET', url: '/nothing-here' })
    expect(notFound.statusCode).toBe(404)
    const loggedIn = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(loggedIn.statusCode).toBe(200)
    for (const response of [notFound, loggedIn]) {
      expect(response.headers['content-security-policy']).toContain("default-src 'none'")
      expect(response.headers['x-content-type-options']).toBe('nosniff')
      expect(response.headers['x-frame-options']).toBeDefined()
      expect(response.headers['referrer-policy']).toBe('no-referrer')
      expect(response.headers['strict-transport-security']).toBeDefined()
    }
  })

  it('marks JSON answers cache-control: no-store, errors and log-ins included', async () => {
    const context = await setup()
    const answers = [
      await context.app.inject({ method: 'GET', url: '/auth/session' }),
      await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO }),
      await context.app.inject({ method: 'POST', url: '/auth/login', payload: { ...DEMO, password: 'wrong-password' } }),
      await context.app.inject({ method: 'GET', url: '/nothing-here' }),
      await context.app.inject({ method: 'GET', url: '/healthz' })
    ]
    for (const response of answers) {
      expect(response.headers['content-type'], response.body).toMatch(/json/)
      expect(response.headers['cache-control'], `${response.statusCode} ${response.body}`).toBe('no-store')
    }
  })
})

describe('X-Request-Id', () => {
  it('echoes a safe caller id, forwards it upstream and writes it in the log lines', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'x-request-id': 'abc-123' },
      payload: DEMO
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['x-request-id']).toBe('abc-123')

    const [upstream] = context.sim.requestsTo('auth', LOGIN_PATH)
    expect(upstream).toBeDefined()
    expect(upstream?.headers['x-request-id']).toBe('abc-123')

    const lines = logLinesFor(context.logs, 'abc-123')
    expect(lines.length).toBeGreaterThanOrEqual(1)
    expect(lines.some((line) => line.msg === 'logged in')).toBe(true)
  })

  it('puts the request id on every log line written while a request runs: log-in, a refresh, a failed upstream call, log-out', async () => {
    const context = await setup()
    const before = context.logs.length
    const login = await context.app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-request-id': 'req-login' }, payload: DEMO })
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string
    context.sim.expireTokens('ejento')
    const refreshed = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie, 'x-request-id': 'req-refresh' } })
    context.sim.inject({ upstream: 'api', mode: 'drop' })
    const failed = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie, 'x-request-id': 'req-failed' } })
    const logout = await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie, 'x-request-id': 'req-logout' } })
    expect([login.statusCode, refreshed.statusCode, failed.statusCode, logout.statusCode]).toEqual([200, 201, 502, 204])

    const lines = context.logs.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(lines.length).toBeGreaterThanOrEqual(12)
    const ids = new Set(['req-login', 'req-refresh', 'req-failed', 'req-logout'])
    const without = lines.filter((line) => !ids.has(String(line.reqId)))
    expect(without, JSON.stringify(without)).toEqual([])
    expect(lines.some((line) => line.reqId === 'req-refresh' && String(line.msg).startsWith('token refresh'))).toBe(true)
    expect(lines.some((line) => line.reqId === 'req-failed' && line.level === 50)).toBe(true)
  })

  it('echoes a safe id on an error answer too', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'GET', url: '/nothing-here', headers: { 'x-request-id': 'trace.42:x_y' } })
    expect(response.statusCode).toBe(404)
    expect(response.headers['x-request-id']).toBe('trace.42:x_y')
  })

  it.each([
    ['spaces', 'abc 123 def'],
    ['300 characters', 'a'.repeat(300)],
    ['a log-injection attempt', 'abc","level":60,"msg":"forged'],
    ['a header-injection attempt', 'abc%0d%0aSet-Cookie:x=1'],
    ['a tab', 'abc\tdef']
  ])('replaces an unsafe caller id (%s) with a generated UUID, everywhere', async (_label, unsafe) => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'x-request-id': unsafe },
      payload: DEMO
    })
    expect(response.statusCode).toBe(200)
    const id = String(response.headers['x-request-id'])
    expect(id).toMatch(UUID)
    expect(id).not.toBe(unsafe)

    const [upstream] = context.sim.requestsTo('auth', LOGIN_PATH)
    expect(upstream?.headers['x-request-id']).toBe(id)
    expect(logLinesFor(context.logs, id).length).toBeGreaterThanOrEqual(1)
    for (const line of context.logs) expect(line).not.toContain(unsafe)
  })

  it('replaces an id carrying a newline or CRLF (header and log injection)', async () => {
    const context = await setup()
    for (const unsafe of ['abc\ndef', 'abc\r\nX-Evil: 1']) {
      const response = await context.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': unsafe } })
      expect(response.statusCode).toBe(200)
      const id = String(response.headers['x-request-id'])
      expect(id).toMatch(UUID)
      expect(response.headers['x-evil']).toBeUndefined()
    }
    for (const line of context.logs) expect(line).not.toContain('X-Evil')
  })

  it('generates a UUID when the caller sends none, and uses it upstream and in the logs', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(200)
    const id = String(response.headers['x-request-id'])
    expect(id).toMatch(UUID)
    const [upstream] = context.sim.requestsTo('auth', LOGIN_PATH)
    expect(upstream?.headers['x-request-id']).toBe(id)
    expect(logLinesFor(context.logs, id).length).toBeGreaterThanOrEqual(1)

    const other = await context.app.inject({ method: 'GET', url: '/healthz' })
    expect(String(other.headers['x-request-id'])).toMatch(UUID)
    expect(other.headers['x-request-id']).not.toBe(id)
  })

  it('keeps the caller id when the request is refused before any route runs', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'x-request-id': 'refused-1', 'sec-fetch-site': 'cross-site' },
      payload: DEMO
    })
    expect(response.statusCode).toBe(403)
    expect(response.headers['x-request-id']).toBe('refused-1')
    expect(logLinesFor(context.logs, 'refused-1').length).toBeGreaterThanOrEqual(1)
  })
})

describe('health endpoints', () => {
  it('answers /healthz 200 {status: ok}', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'GET', url: '/healthz' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toContain('application/json')
    expect(response.json()).toEqual({ status: 'ok' })
    expect(context.sim.requests).toHaveLength(0)
  })

  it('answers /readyz 200 {status: ready} while the session store answers', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'GET', url: '/readyz' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ready' })
  })
})
