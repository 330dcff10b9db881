import { describe, expect, it } from 'vitest'
import { nestingExceeds } from '../src/plugins/json-body.js'
import { createThread, login, setup } from './helpers/app.js'

const nested = (depth: number): string => `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`

/**
 * Regression (review finding): about 10 KB of nested brackets parsed fine, then overflowed
 * the stack when the body was serialised again for upstream: a 500 from client input.
 */
describe('deeply nested JSON bodies', () => {
  it('answers 400 json_too_deep on both agent routes and never calls upstream', async () => {
    const context = await setup()
    const cookie = await login(context)
    const before = context.sim.requests.length
    for (const url of ['/api/agents/1/chat-threads', '/api/agents/1/responses']) {
      const response = await context.app.inject({ method: 'POST', url, headers: { cookie, 'content-type': 'application/json' }, payload: nested(5000) })
      expect(response.statusCode, url).toBe(400)
      expect(response.headers['content-type']).toContain('application/problem+json')
      expect(response.json().code).toBe('json_too_deep')
    }
    expect(context.sim.requests.slice(before)).toHaveLength(0)
  })

  it('lets a body nested 64 levels through intact, and refuses 65', async () => {
    const context = await setup()
    const cookie = await login(context)
    const ok = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie, 'content-type': 'application/json' }, payload: nested(64) })
    expect(ok.statusCode, ok.body).toBe(201)
    const sent = context.sim.requestsTo('api', /chat-thread$/).at(-1)
    expect(JSON.parse(sent?.body.toString('utf8') ?? '')).toEqual(JSON.parse(nested(64)))
    const deep = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie, 'content-type': 'application/json' }, payload: nested(65) })
    expect(deep.json().code).toBe('json_too_deep')
  })

  it('counts only brackets outside strings', () => {
    expect(nestingExceeds(`{"text": "${'['.repeat(500)}"}`, 2)).toBe(false)
    expect(nestingExceeds(`{"text": "\\"${'['.repeat(10)}", "a": [[1]]}`, 2)).toBe(true)
    expect(nestingExceeds('[[1]]', 2)).toBe(false)
    expect(nestingExceeds('[[[1]]]', 2)).toBe(true)
  })
})

/**
 * Regression (review finding): fetch() and some clients send `Content-Type: application/json`
 * with no body on a bare POST; Fastify answered 400 and the log-out never happened.
 */
describe('an empty body sent as application/json', () => {
  it('logs out: 204, and the cookie no longer works', async () => {
    const context = await setup()
    const cookie = await login(context)
    const logout = await context.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie, 'content-type': 'application/json' } })
    expect(logout.statusCode, logout.body).toBe(204)
    expect((await createThread(context, cookie)).statusCode).toBe(401)
  })

  it('refreshes on POST /auth/refresh, and creates a chat thread with {} upstream', async () => {
    const context = await setup()
    const cookie = await login(context)
    const refresh = await context.app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie, 'content-type': 'application/json' } })
    expect(refresh.statusCode, refresh.body).toBe(204)
    expect(context.sim.counter('refresh')).toBe(1)
    const thread = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie, 'content-type': 'application/json; charset=utf-8' }, payload: '' })
    expect(thread.statusCode, thread.body).toBe(201)
    expect(context.sim.requestsTo('api', /chat-thread$/).at(-1)?.body.toString('utf8')).toBe('{}')
  })

  it('is still refused where a body is required: log-in answers 400 validation_failed', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '' })
    expect(response.statusCode).toBe(400)
    expect(response.json().code).toBe('validation_failed')
    expect(context.sim.requests).toHaveLength(0)
  })
})
