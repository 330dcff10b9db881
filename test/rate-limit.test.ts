import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { DEMO, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'

const LOGIN_PATH = /^\/api\/login\/access-token$/
const SIGNUP_PATH = /^\/api\/users\/signup$/

function expectRateLimited (response: LightMyRequestResponse): void {
  expect(response.statusCode).toBe(429)
  expect(response.headers['content-type']).toContain('application/problem+json')
  expect(response.json()).toMatchObject({ type: 'about:blank', status: 429, code: 'rate_limited' })
  const retryAfter = String(response.headers['retry-after'])
  expect(retryAfter).toMatch(/^\d+$/)
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1)
}

async function attemptLogin (context: TestContext, payload: Record<string, string>, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: 'POST', url: '/auth/login', headers, payload })
}

async function attemptSignup (context: TestContext, email: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await context.app.inject({
    method: 'POST',
    url: '/auth/signup',
    headers,
    payload: { email, password: 'sign-up-password', full_name: 'Someone' }
  })
}

describe('rate limits on log-in and sign-up', () => {
  describe('per client address', () => {
    const env = { AUTH_RATE_LIMIT_PER_IP: '3', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }

    it('answers the 4th log-in attempt from one address 429 rate_limited with Retry-After, without calling upstream', async () => {
      const context = await setup({ env })
      for (let attempt = 1; attempt <= 3; attempt++) {
        const response = await attemptLogin(context, DEMO)
        expect(response.statusCode, `attempt ${attempt}`).toBe(200)
      }
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(3)

      const fourth = await attemptLogin(context, DEMO)
      expectRateLimited(fourth)
      expect(Number(fourth.headers['retry-after'])).toBeLessThanOrEqual(60)
      expect(fourth.headers['set-cookie']).toBeUndefined()
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(3)
    })

    it('counts failed attempts too, whatever account they name', async () => {
      const context = await setup({ env })
      for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) {
        const response = await attemptLogin(context, { email, password: 'wrong-password' })
        expect(response.statusCode).toBe(401)
      }
      // The right password does not help once the address is out of attempts.
      expectRateLimited(await attemptLogin(context, DEMO))
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(3)
    })

    it('protects sign-up the same way', async () => {
      const context = await setup({ env })
      for (let attempt = 1; attempt <= 3; attempt++) {
        const response = await attemptSignup(context, `new-${attempt}@example.com`)
        expect(response.statusCode, `attempt ${attempt}`).toBeLessThan(300)
      }
      expect(context.sim.requestsTo('auth', SIGNUP_PATH)).toHaveLength(3)
      expectRateLimited(await attemptSignup(context, 'new-4@example.com'))
      expect(context.sim.requestsTo('auth', SIGNUP_PATH)).toHaveLength(3)
      expect([...context.sim.state.users.values()].some((user) => user.email === 'new-4@example.com')).toBe(false)
    })

    it('shares one budget between log-in and sign-up', async () => {
      const context = await setup({ env })
      expect((await attemptSignup(context, 'first@example.com')).statusCode).toBeLessThan(300)
      expect((await attemptLogin(context, DEMO)).statusCode).toBe(200)
      expect((await attemptSignup(context, 'second@example.com')).statusCode).toBeLessThan(300)
      expectRateLimited(await attemptLogin(context, DEMO))
      expectRateLimited(await attemptSignup(context, 'third@example.com'))
      expect(context.sim.requests.filter((request) => LOGIN_PATH.test(request.path) || SIGNUP_PATH.test(request.path))).toHaveLength(3)
    })

    it('keeps separate budgets for separate addresses behind a trusted proxy', async () => {
      const context = await setup({ env: { ...env, TRUST_PROXY: 'true' } })
      for (let attempt = 1; attempt <= 3; attempt++) {
        expect((await attemptLogin(context, DEMO, { 'x-forwarded-for': '203.0.113.1' })).statusCode).toBe(200)
      }
      expectRateLimited(await attemptLogin(context, DEMO, { 'x-forwarded-for': '203.0.113.1' }))
      expect((await attemptLogin(context, DEMO, { 'x-forwarded-for': '203.0.113.2' })).statusCode).toBe(200)
    })

    it('ignores X-Forwarded-For when TRUST_PROXY is off, so a client cannot mint fresh addresses', async () => {
      const context = await setup({ env })
      for (let attempt = 1; attempt <= 3; attempt++) {
        expect((await attemptLogin(context, DEMO, { 'x-forwarded-for': `198.51.100.${attempt}` })).statusCode).toBe(200)
      }
      expectRateLimited(await attemptLogin(context, DEMO, { 'x-forwarded-for': '198.51.100.99' }))
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(3)
    })
  })

  describe('per account', () => {
    const env = { TRUST_PROXY: 'true', AUTH_RATE_LIMIT_PER_ACCOUNT: '2', AUTH_RATE_LIMIT_PER_IP: '1000' }

    it('limits one email on the 3rd attempt even from different addresses, while another email still passes', async () => {
      const context = await setup({ env })
      const target = { email: DEMO.email, password: 'guess-password' }
      expect((await attemptLogin(context, target, { 'x-forwarded-for': '203.0.113.10' })).statusCode).toBe(401)
      expect((await attemptLogin(context, target, { 'x-forwarded-for': '203.0.113.11' })).statusCode).toBe(401)
      const third = await attemptLogin(context, DEMO, { 'x-forwarded-for': '203.0.113.12' })
      expectRateLimited(third)
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(2)

      context.sim.state.addUser({ email: 'other@example.com', password: 'other-password' })
      const other = await attemptLogin(context, { email: 'other@example.com', password: 'other-password' }, { 'x-forwarded-for': '203.0.113.12' })
      expect(other.statusCode).toBe(200)
      expect(other.json().user.email).toBe('other@example.com')
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(3)
    })

    it('counts a form log-in (username) against the same account as a JSON one (email)', async () => {
      const context = await setup({ env })
      expect((await attemptLogin(context, { email: DEMO.email, password: 'guess-1' }, { 'x-forwarded-for': '203.0.113.20' })).statusCode).toBe(401)
      const form = await context.app.inject({
        method: 'POST',
        url: '/auth/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.21' },
        payload: `username=${encodeURIComponent(DEMO.email)}&password=guess-2`
      })
      expect(form.statusCode).toBe(401)
      expectRateLimited(await attemptLogin(context, DEMO, { 'x-forwarded-for': '203.0.113.22' }))
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(2)
    })

    it('is not evaded by changing the email\'s case or surrounding whitespace', async () => {
      const context = await setup({ env })
      const variants = ['Demo@Example.com', '  DEMO@EXAMPLE.COM  ', '\tdemo@example.COM\n']
      const first = await attemptLogin(context, { email: variants[0] as string, password: 'guess-1' }, { 'x-forwarded-for': '203.0.113.30' })
      const second = await attemptLogin(context, { email: variants[1] as string, password: 'guess-2' }, { 'x-forwarded-for': '203.0.113.31' })
      expect(first.statusCode).toBeLessThan(500)
      expect(first.statusCode).not.toBe(429)
      expect(second.statusCode).toBeLessThan(500)
      expect(second.statusCode).not.toBe(429)
      expectRateLimited(await attemptLogin(context, { email: variants[2] as string, password: 'guess-3' }, { 'x-forwarded-for': '203.0.113.32' }))
      expectRateLimited(await attemptLogin(context, DEMO, { 'x-forwarded-for': '203.0.113.33' }))
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(2)
    })

    it('limits sign-up per account too', async () => {
      const context = await setup({ env })
      const email = 'taken-twice@example.com'
      expect((await attemptSignup(context, email, { 'x-forwarded-for': '203.0.113.40' })).statusCode).toBeLessThan(300)
      // The second sign-up for the same email is refused upstream (already registered), still an attempt.
      expect((await attemptSignup(context, email.toUpperCase(), { 'x-forwarded-for': '203.0.113.41' })).statusCode).not.toBe(429)
      expectRateLimited(await attemptSignup(context, 'Taken-Twice@Example.COM', { 'x-forwarded-for': '203.0.113.42' }))
      expect(context.sim.requestsTo('auth', SIGNUP_PATH)).toHaveLength(2)
      expect((await attemptSignup(context, 'someone-else@example.com', { 'x-forwarded-for': '203.0.113.42' })).statusCode).toBeLessThan(300)
    })
  })

  describe('window', () => {
    it('lets attempts through again once the window has passed', async () => {
      const context = await setup({ env: { AUTH_RATE_LIMIT_PER_IP: '2', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000', AUTH_RATE_LIMIT_WINDOW: '1s' } })
      expect((await attemptLogin(context, DEMO)).statusCode).toBe(200)
      expect((await attemptLogin(context, DEMO)).statusCode).toBe(200)
      const limited = await attemptLogin(context, DEMO)
      expectRateLimited(limited)
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(2)
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(2)

      await new Promise((resolve) => setTimeout(resolve, 2_200))
      const again = await attemptLogin(context, DEMO)
      expect(again.statusCode).toBe(200)
      expect(context.sim.requestsTo('auth', LOGIN_PATH)).toHaveLength(3)
    })
  })
})
