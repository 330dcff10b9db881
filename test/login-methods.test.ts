import { afterEach, describe, expect, it, vi } from 'vitest'
import { setup } from './helpers/app.js'
import { GUIDE, V2, exactPath } from './helpers/profiles.js'
import type { TestContext } from './helpers/app.js'

const FLAGS = V2.paths.auth.loginMethods as string

async function methods (context: TestContext): Promise<unknown> {
  const answer = await context.app.inject({ method: 'GET', url: '/auth/methods' })
  expect(answer.statusCode).toBe(200)
  return answer.json()
}

function flagCalls (context: TestContext): number {
  return context.sim.requestsTo('auth', exactPath(FLAGS)).length
}

afterEach(() => { vi.useRealTimers() })

describe('GET /auth/methods on guide', () => {
  it('offers password log-in only, and asks no upstream', async () => {
    const context = await setup({ profile: GUIDE })
    expect(await methods(context)).toEqual({ profile: 'guide', password: true, passwordless: false, sso: [] })
    expect(context.sim.requests).toHaveLength(0)
  })
})

describe('GET /auth/methods on v2', () => {
  it('reads the feature flags with the gateway key and no token, without a session', async () => {
    const context = await setup({ profile: V2 })
    expect(await methods(context)).toEqual({ profile: 'v2', password: true, passwordless: true, sso: ['google', 'microsoft'] })
    const [call] = context.sim.requestsTo('auth', exactPath(FLAGS))
    expect(call?.headers['ocp-apim-subscription-key']).toBe(V2.env.EJENTO_SUBSCRIPTION_KEY)
    expect(call?.headers.authorization).toBeUndefined()
    expect(call?.headers.cookie).toBeUndefined()
  })

  it('follows the flags: a provider or password-less log-in turned off is not offered', async () => {
    const context = await setup({ profile: V2, sim: { loginFlags: { passwordless_login: false, google_sso: false } } })
    expect(await methods(context)).toEqual({ profile: 'v2', password: true, passwordless: false, sso: ['microsoft'] })
  })

  it('offers only flags that name a provider GET /auth/sso/:provider takes, and only when exactly true', async () => {
    const context = await setup({ profile: V2 })
    context.sim.inject({
      upstream: 'auth',
      path: exactPath(FLAGS),
      status: 200,
      body: { success: true, data: { password_login: true, passwordless_login: 'yes', google_sso: 1, okta_sso: true, 'Evil/../x_sso': true, azure_ad_sso: true, github: true } }
    })
    expect(await methods(context)).toEqual({ profile: 'v2', password: true, passwordless: false, sso: ['okta'] })
  })

  it('asks the upstream at most once a minute per process, and again after', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const context = await setup({ profile: V2 })
    await Promise.all([methods(context), methods(context), methods(context)])
    expect(flagCalls(context)).toBe(1)

    context.sim.configure({ loginFlags: { microsoft_sso: false } })
    vi.setSystemTime(Date.now() + 59_000)
    expect(await methods(context)).toMatchObject({ sso: ['google', 'microsoft'] })
    expect(flagCalls(context)).toBe(1)

    vi.setSystemTime(Date.now() + 2_000)
    expect(await methods(context)).toMatchObject({ sso: ['google'] })
    expect(flagCalls(context)).toBe(2)
  })

  it.each([
    ['answers 500', { status: 500, body: { detail: 'boom' } }],
    ['refuses the gateway key', { status: 401, body: { statusCode: 401, message: 'Access denied due to missing subscription key.' } }],
    ['answers something else', { status: 200, body: { success: true, data: ['password'] } }],
    ['answers garbage', { mode: 'garbage' as const }],
    ['drops the connection', { mode: 'drop' as const }]
  ])('when the flags cannot be read (the upstream %s): password only, nothing guessed, one warning', async (_what, failure) => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const context = await setup({ profile: V2 })
    context.sim.inject({ upstream: 'auth', path: exactPath(FLAGS), times: 2, ...failure })

    expect(await methods(context)).toEqual({ profile: 'v2', password: true, passwordless: false, sso: [] })
    // A failure is retried sooner than a success (10 s), and a second failure is not logged again.
    vi.setSystemTime(Date.now() + 11_000)
    expect(await methods(context)).toEqual({ profile: 'v2', password: true, passwordless: false, sso: [] })
    expect(flagCalls(context)).toBe(2)
    const warnings = context.logs.map((line) => JSON.parse(line) as { level: number, msg: string }).filter((line) => line.level === 40)
    expect(warnings.map((line) => line.msg)).toEqual(['the log-in feature flags could not be read: offering password log-in only'])

    // Back: the flags count again.
    vi.setSystemTime(Date.now() + 11_000)
    expect(await methods(context)).toEqual({ profile: 'v2', password: true, passwordless: true, sso: ['google', 'microsoft'] })
  })

  it('a slow flags call does not hold the page: password only after 5 s', async () => {
    const context = await setup({ profile: V2 })
    context.sim.inject({ upstream: 'auth', path: exactPath(FLAGS), mode: 'hang' })
    const started = Date.now()
    expect(await methods(context)).toEqual({ profile: 'v2', password: true, passwordless: false, sso: [] })
    expect(Date.now() - started).toBeLessThan(8_000)
  }, 15_000)
})
