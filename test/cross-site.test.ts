import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { DEMO, login, setup } from './helpers/app.js'

const LOGIN_PATH = /^\/api\/login\/access-token$/
const SIGNUP_PATH = /^\/api\/users\/signup$/

function expectCsrfRejected (response: LightMyRequestResponse): void {
  expect(response.statusCode).toBe(403)
  expect(response.headers['content-type']).toContain('application/problem+json')
  expect(response.json()).toMatchObject({ type: 'about:blank', status: 403, code: 'csrf_rejected' })
}

describe('cross-site protection on unsafe methods', () => {
  it('refuses a log-in the browser marks Sec-Fetch-Site: cross-site, before any upstream call', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'sec-fetch-site': 'cross-site' },
      payload: DEMO
    })
    expectCsrfRejected(response)
    expect(response.headers['set-cookie']).toBeUndefined()
    expect(context.sim.requests).toHaveLength(0)
  })

  it('refuses a log-in from an Origin that is neither this server nor allowed', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { host: 'bff.test', origin: 'https://evil.example' },
      payload: DEMO
    })
    expectCsrfRejected(response)
    expect(context.sim.requests).toHaveLength(0)
  })

  it('refuses a foreign origin even when Sec-Fetch-Site claims same-origin', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { host: 'bff.test', origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
      payload: DEMO
    })
    expectCsrfRejected(response)
    expect(context.sim.requests).toHaveLength(0)
  })

  it.each([
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['a foreign Origin', { host: 'bff.test', origin: 'https://evil.example' }]
  ])('refuses a sign-up with %s and never creates the account', async (_label, headers) => {
    const context = await setup()
    const usersBefore = context.sim.state.users.size
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/signup',
      headers,
      payload: { email: 'new-user@example.com', password: 'new-password-123', full_name: 'New User' }
    })
    expectCsrfRejected(response)
    expect(context.sim.requestsTo('auth', SIGNUP_PATH)).toHaveLength(0)
    expect(context.sim.requests).toHaveLength(0)
    expect(context.sim.state.users.size).toBe(usersBefore)
  })

  it.each([
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['a foreign Origin', { host: 'bff.test', origin: 'https://evil.example' }]
  ])('refuses a log-out with %s and keeps the session alive', async (_label, headers) => {
    const context = await setup()
    const cookie = await login(context)
    const requestsBefore = context.sim.requests.length
    const response = await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { ...headers, cookie } })
    expectCsrfRejected(response)
    expect(context.sim.requests).toHaveLength(requestsBefore)
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })
    expect(session.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
  })

  it('refuses Origin: null (sandboxed frames, opaque origins)', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { host: 'bff.test', origin: 'null' },
      payload: DEMO
    })
    expectCsrfRejected(response)
    expect(context.sim.requests).toHaveLength(0)
  })

  it.each(['PUT', 'PATCH', 'DELETE'] as const)('refuses a cross-site %s too, before routing', async (method) => {
    const context = await setup()
    const response = await context.app.inject({
      method,
      url: '/auth/logout',
      headers: { 'sec-fetch-site': 'cross-site' }
    })
    expectCsrfRejected(response)
    expect(context.sim.requests).toHaveLength(0)
  })

  it('lets a curl-style log-in with neither Origin nor Sec-Fetch-Site through', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `username=${encodeURIComponent(DEMO.email)}&password=${encodeURIComponent(DEMO.password)}`
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(1)
  })

  it('lets a log-in through whose Origin is the server\'s own origin', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { host: 'bff.test', origin: 'http://bff.test' },
      payload: DEMO
    })
    expect(response.statusCode).toBe(200)
    expect(response.json().authenticated).toBe(true)
    expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(1)
  })

  it('does not take a look-alike of the own origin (other scheme or port) for the own origin', async () => {
    const context = await setup()
    for (const origin of ['https://bff.test', 'http://bff.test:8080', 'http://bff.test.evil.example']) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/auth/login',
        headers: { host: 'bff.test', origin },
        payload: DEMO
      })
      expectCsrfRejected(response)
    }
    expect(context.sim.requests).toHaveLength(0)
  })

  it('does not let a caller forge the own origin with X-Forwarded-* when TRUST_PROXY is off', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { host: 'bff.test', origin: 'https://evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
      payload: DEMO
    })
    expectCsrfRejected(response)
    expect(context.sim.requests).toHaveLength(0)
  })

  it('takes the own origin from X-Forwarded-Proto and -Host behind a trusted proxy', async () => {
    const context = await setup({ env: { TRUST_PROXY: 'true' } })
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { host: '10.0.0.5:3000', origin: 'https://bff.example', 'x-forwarded-host': 'bff.example', 'x-forwarded-proto': 'https' },
      payload: DEMO
    })
    expect(response.statusCode).toBe(200)
    expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(1)
  })

  it('lets an origin listed in ALLOWED_ORIGINS through, and still refuses others', async () => {
    const context = await setup({ env: { ALLOWED_ORIGINS: 'https://app.example' } })
    const allowed = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { host: 'bff.test', origin: 'https://app.example', 'sec-fetch-site': 'same-site' },
      payload: DEMO
    })
    expect(allowed.statusCode).toBe(200)
    expect(allowed.json().authenticated).toBe(true)
    expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(1)

    const other = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { host: 'bff.test', origin: 'https://evil.example' },
      payload: DEMO
    })
    expectCsrfRejected(other)
    expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(1)
  })

  it('lets Sec-Fetch-Site: same-origin through', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'sec-fetch-site': 'same-origin' },
      payload: DEMO
    })
    expect(response.statusCode).toBe(200)
    expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(1)
  })

  it('never refuses a GET, whatever its Origin or Sec-Fetch-Site', async () => {
    const context = await setup()
    const cookie = await login(context)
    const response = await context.app.inject({
      method: 'GET',
      url: '/auth/session',
      headers: { host: 'bff.test', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', cookie }
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })

    const health = await context.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { origin: 'null', 'sec-fetch-site': 'cross-site' }
    })
    expect(health.statusCode).toBe(200)
    expect(health.json()).toEqual({ status: 'ok' })
  })
})
