import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { DEMO, setup } from './helpers/app.js'

function expectProblem (response: LightMyRequestResponse, status: number, code: string): void {
  expect(response.statusCode).toBe(status)
  expect(response.headers['content-type']).toContain('application/problem+json')
  expect(response.json()).toMatchObject({ type: 'about:blank', status, code })
}

describe('request bodies the BFF refuses itself', () => {
  it('answers 413 body_too_large for a JSON log-in over BODY_LIMIT, without calling upstream', async () => {
    const context = await setup({ env: { BODY_LIMIT: '1kb' } })
    expect(context.config.security.bodyLimit).toBe(1024)
    const payload = JSON.stringify({ email: DEMO.email, password: 'x'.repeat(2048) })
    expect(Buffer.byteLength(payload)).toBeGreaterThan(2048)
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload
    })
    expectProblem(response, 413, 'body_too_large')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('answers 413 body_too_large for a form log-in over BODY_LIMIT too', async () => {
    const context = await setup({ env: { BODY_LIMIT: '1kb' } })
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `username=${encodeURIComponent(DEMO.email)}&password=${'x'.repeat(2048)}`
    })
    expectProblem(response, 413, 'body_too_large')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('still accepts a log-in under BODY_LIMIT', async () => {
    const context = await setup({ env: { BODY_LIMIT: '1kb' } })
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(response.statusCode).toBe(200)
  })

  it('answers 400 invalid_json for malformed JSON, without calling upstream', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": "demo@example.com", "password": '
    })
    expectProblem(response, 400, 'invalid_json')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('answers an empty JSON body with a 400 problem, not a 5xx', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: ''
    })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(typeof response.json().code).toBe('string')
    expect(context.sim.requests).toHaveLength(0)
  })

  it.each([
    ['text/plain', JSON.stringify(DEMO)],
    ['text/plain; charset=utf-8', 'hello'],
    ['application/xml', '<login/>']
  ])('answers 415 unsupported_media_type for a %s log-in body, without calling upstream', async (contentType, payload) => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': contentType },
      payload
    })
    expectProblem(response, 415, 'unsupported_media_type')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('answers 415 unsupported_media_type on sign-up as well', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/signup',
      headers: { 'content-type': 'text/plain' },
      payload: 'email=a@example.com'
    })
    expectProblem(response, 415, 'unsupported_media_type')
    expect(context.sim.requests).toHaveLength(0)
  })

  it.each([
    ['an array', '[{"email":"demo@example.com","password":"demo-password"}]'],
    ['a number', '42'],
    ['a string', '"demo@example.com"'],
    ['null', 'null'],
    ['a boolean', 'true']
  ])('answers a JSON log-in body that is %s with 400 validation_failed', async (_label, payload) => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload
    })
    expectProblem(response, 400, 'validation_failed')
    expect(context.sim.requests).toHaveLength(0)
  })

  it.each([
    ['an array', '[]'],
    ['a number', '7'],
    ['a string', '"x"']
  ])('answers a JSON sign-up body that is %s with 400 validation_failed', async (_label, payload) => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/signup',
      headers: { 'content-type': 'application/json' },
      payload
    })
    expectProblem(response, 400, 'validation_failed')
    expect(context.sim.requests).toHaveLength(0)
  })

  it.each([
    ['username', `username=a%40example.com&username=b%40example.com&password=${DEMO.password}`],
    ['password', `username=${encodeURIComponent(DEMO.email)}&password=one&password=two`]
  ])('answers a form log-in with a repeated %s field with 400, not a 5xx', async (_field, payload) => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload
    })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toContain('application/problem+json')
    expect(response.json().code).toBe('validation_failed')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('answers a log-in with unexpected JSON types (email as an object) with 400, not a 5xx', async () => {
    const context = await setup()
    const response = await context.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: { $ne: '' }, password: DEMO.password }
    })
    expectProblem(response, 400, 'validation_failed')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('answers an unknown route with a 404 not_found problem', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'GET', url: '/no/such/route?x=1' })
    expectProblem(response, 404, 'not_found')
    expect(response.json().detail).not.toContain('x=1')

    const post = await context.app.inject({ method: 'POST', url: '/auth/nowhere', payload: DEMO })
    expectProblem(post, 404, 'not_found')
    expect(context.sim.requests).toHaveLength(0)
  })

  it('never answers any of these with a 5xx, and the server keeps serving', async () => {
    const context = await setup({ env: { BODY_LIMIT: '1kb' } })
    const attempts = [
      { headers: { 'content-type': 'application/json' }, payload: '{' },
      { headers: { 'content-type': 'application/json' }, payload: '[]' },
      { headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...DEMO, padding: 'p'.repeat(4096) }) },
      { headers: { 'content-type': 'text/plain' }, payload: 'hello' },
      { headers: { 'content-type': 'application/xml' }, payload: '<login/>' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=a&username=b&password=c' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '%%%' }
    ]
    for (const attempt of attempts) {
      const response = await context.app.inject({ method: 'POST', url: '/auth/login', ...attempt })
      expect(response.statusCode, `${attempt.headers['content-type']} ${attempt.payload.slice(0, 40)}`).toBeGreaterThanOrEqual(400)
      expect(response.statusCode, `${attempt.headers['content-type']} ${attempt.payload.slice(0, 40)}`).toBeLessThan(500)
      expect(response.headers['content-type']).toContain('application/problem+json')
    }
    expect(context.sim.requests).toHaveLength(0)
    const ok = await context.app.inject({ method: 'POST', url: '/auth/login', payload: DEMO })
    expect(ok.statusCode).toBe(200)
  })
})
