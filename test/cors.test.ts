import { describe, expect, it } from 'vitest'
import { DEMO, login, setup } from './helpers/app.js'

const APP = 'https://app.example'
const OTHER = 'https://other.example'

function preflight (origin: string, url = '/auth/login'): { method: 'OPTIONS', url: string, headers: Record<string, string> } {
  return {
    method: 'OPTIONS',
    url,
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type'
    }
  }
}

describe('CORS for the allowed origins', () => {
  it('answers a preflight from an allowed origin with credentials allowed', async () => {
    const context = await setup({ env: { ALLOWED_ORIGINS: APP } })
    const response = await context.app.inject(preflight(APP))
    expect(response.statusCode).toBeGreaterThanOrEqual(200)
    expect(response.statusCode).toBeLessThan(300)
    expect(response.headers['access-control-allow-origin']).toBe(APP)
    expect(response.headers['access-control-allow-credentials']).toBe('true')
    expect(String(response.headers['access-control-allow-methods']).split(/\s*,\s*/)).toContain('POST')
    expect(String(response.headers['access-control-allow-headers']).toLowerCase().split(/\s*,\s*/)).toContain('content-type')
    // Credentialed CORS must name the origin, never a wildcard, and must vary on it.
    expect(response.headers['access-control-allow-origin']).not.toBe('*')
    expect(String(response.headers.vary).toLowerCase()).toContain('origin')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('marks an actual GET from an allowed origin readable with credentials and exposes x-request-id', async () => {
    const context = await setup({ env: { ALLOWED_ORIGINS: APP } })
    const response = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { origin: APP } })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ authenticated: false })
    expect(response.headers['access-control-allow-origin']).toBe(APP)
    expect(response.headers['access-control-allow-credentials']).toBe('true')
    const exposed = String(response.headers['access-control-expose-headers']).toLowerCase().split(/\s*,\s*/)
    expect(exposed).toContain('x-request-id')
    expect(response.headers['x-request-id']).toBeDefined()
  })

  it('carries the CORS headers on a logged-in session answer and on a log-in from the allowed origin', async () => {
    const context = await setup({ env: { ALLOWED_ORIGINS: APP } })
    const loginResponse = await context.app.inject({ method: 'POST', url: '/auth/login', headers: { origin: APP }, payload: DEMO })
    expect(loginResponse.statusCode).toBe(200)
    expect(loginResponse.headers['access-control-allow-origin']).toBe(APP)
    expect(loginResponse.headers['access-control-allow-credentials']).toBe('true')

    const cookie = await login(context)
    const session = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { origin: APP, cookie } })
    expect(session.json()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    expect(session.headers['access-control-allow-origin']).toBe(APP)
  })

  it('gives a preflight from another origin no access-control-allow-origin, and reaches nothing upstream', async () => {
    const context = await setup({ env: { ALLOWED_ORIGINS: APP } })
    const response = await context.app.inject(preflight(OTHER))
    expect(response.statusCode).toBeLessThan(500)
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    expect(response.headers['access-control-allow-credentials']).toBeUndefined()
    expect(context.sim.requests).toHaveLength(0)
  })

  it('gives a GET from another origin no access-control-allow-origin', async () => {
    const context = await setup({ env: { ALLOWED_ORIGINS: APP } })
    const response = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { origin: OTHER } })
    expect(response.statusCode).toBe(200)
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    expect(response.headers['access-control-allow-credentials']).toBeUndefined()
  })

  it('does not take a look-alike of an allowed origin for it', async () => {
    const context = await setup({ env: { ALLOWED_ORIGINS: APP } })
    for (const origin of ['http://app.example', 'https://app.example:8443', 'https://app.example.evil.example', 'null']) {
      const response = await context.app.inject(preflight(origin))
      expect(response.headers['access-control-allow-origin'], origin).toBeUndefined()
    }
  })

  it('allows no origin at all when ALLOWED_ORIGINS is empty', async () => {
    const context = await setup({ env: { ALLOWED_ORIGINS: '' } })
    expect(context.config.security.allowedOrigins).toEqual([])
    for (const origin of [APP, OTHER, 'null']) {
      const pre = await context.app.inject(preflight(origin))
      expect(pre.headers['access-control-allow-origin'], origin).toBeUndefined()
      const get = await context.app.inject({ method: 'GET', url: '/auth/session', headers: { origin } })
      expect(get.headers['access-control-allow-origin'], origin).toBeUndefined()
      expect(get.headers['access-control-allow-credentials'], origin).toBeUndefined()
    }
  })
})
