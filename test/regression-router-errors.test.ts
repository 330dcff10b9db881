import { describe, expect, it } from 'vitest'
import { login, setup } from './helpers/app.js'

/**
 * Regression: an overlong id answered 414 (the contract says 400 for a bad path parameter),
 * and answers made by the router itself (a malformed escape) lost the request id and the
 * security headers every other answer carries.
 */
describe('router-level refusals (review finding)', () => {
  it.each([300, 3000])('answers a %i-character agent id with 400 validation_failed, never upstream', async (length) => {
    const context = await setup()
    const cookie = await login(context)
    const before = context.sim.requests.length
    const answer = await context.app.inject({ method: 'POST', url: `/api/agents/${'1'.repeat(length)}/chat-threads`, headers: { cookie } })
    expect(answer.statusCode).toBe(400)
    expect(answer.json().code).toBe('validation_failed')
    expect(context.sim.requests.length).toBe(before)
  })

  it('a malformed escape gets 400 bad_url with the request id and the security headers', async () => {
    const context = await setup()
    const answer = await context.app.inject({ method: 'POST', url: '/api/agents/%zz/chat-threads', headers: { 'x-request-id': 'trace-me-1' } })
    expect(answer.statusCode).toBe(400)
    expect(answer.json().code).toBe('bad_url')
    expect(answer.headers['x-request-id']).toBe('trace-me-1')
    expect(answer.headers['content-security-policy']).toContain("default-src 'none'")
    expect(answer.headers['x-content-type-options']).toBe('nosniff')
    expect(answer.headers['cache-control']).toBe('no-store')
  })

  // Fastify's message quoted the whole target back, query and all.
  it('regression: a malformed escape is not echoed in the answer, nor is a credential in its query', async () => {
    const context = await setup()
    const answer = await context.app.inject({ method: 'POST', url: '/api/agents/%zz/chat-threads?password=hunter2-secret' })
    expect(answer.statusCode).toBe(400)
    expect(answer.json().code).toBe('bad_url')
    expect(answer.body).not.toContain('hunter2-secret')
    expect(answer.body).not.toContain('%zz')
    expect(context.logs.join('')).not.toContain('hunter2-secret')
  })
})
