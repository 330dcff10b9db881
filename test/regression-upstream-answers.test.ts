import type { AddressInfo } from 'node:net'
import { Client } from 'undici'
import { describe, expect, it } from 'vitest'
import { authorizationOf, login, onCleanup, setup } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'

const SUBSCRIPTION_KEY = 'regression-subscription-key-0123'

/** Regressions from a review of what upstream answers the BFF passes to the browser. */
describe('an upstream 5xx on the passthrough (review finding: crash pages reached the browser)', () => {
  it('becomes 502 upstream_error problem JSON, whatever the upstream sent', async () => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 500, body: { detail: 'Traceback (most recent call last): internal.db.host:5432' } })
    context.sim.inject({ upstream: 'auth', path: '/api/users/me', status: 503, body: '<html>nginx upstream down</html>', headers: { 'content-type': 'text/html' } })
    for (const url of ['/proxy/ejento/api/agents', '/proxy/auth/api/users/me']) {
      const response = await context.app.inject({ method: 'GET', url, headers: { cookie } })
      expect(response.statusCode, url).toBe(502)
      expect(response.headers['content-type']).toContain('application/problem+json')
      expect(response.json().code).toBe('upstream_error')
      expect(response.body).not.toMatch(/Traceback|nginx/)
    }
  })
})

describe('streamed JSON-family answers on the passthrough (review finding: ndjson was held back)', () => {
  it('passes application/x-ndjson on chunk by chunk: the first line arrives while the upstream is still writing', async () => {
    const context = await setup()
    const cookie = await login(context)
    await context.app.listen({ port: 0, host: '127.0.0.1' })
    const client = new Client(`http://127.0.0.1:${(context.app.server.address() as AddressInfo).port}`)
    onCleanup(async () => { await client.close() })
    const lines = ['{"n":1}\n', '{"n":2}\n', '{"n":3}\n']
    context.sim.inject({ upstream: 'api', path: '/api/agent/1/export', status: 200, chunks: lines, chunkIntervalMs: 400, headers: { 'content-type': 'application/x-ndjson' } })

    const response = await client.request({ method: 'GET', path: '/proxy/ejento/api/agent/1/export', headers: { cookie } })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('application/x-ndjson')
    const reader = response.body[Symbol.asyncIterator]()
    const first = await reader.next()
    expect(String(first.value)).toBe(lines[0])
    // The upstream has not finished its answer yet: nothing waited for the whole body.
    expect(context.sim.requestsTo('api', /export$/)[0]?.completed).toBe(false)
    let rest = ''
    for (let next = await reader.next(); next.done !== true; next = await reader.next()) rest += String(next.value)
    expect(rest).toBe(lines.slice(1).join(''))
  })
})

describe('answers that echo the call\'s credentials (review finding: a debug endpoint leaked the token)', () => {
  it('withholds the exact token and subscription key on a named route and on the passthrough', async () => {
    const context = await setup({ env: { EJENTO_SUBSCRIPTION_KEY: SUBSCRIPTION_KEY }, sim: { subscriptionKey: SUBSCRIPTION_KEY } })
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: '/api/agent/1/chat-thread', mode: 'echo' })
    context.sim.inject({ upstream: 'auth', path: '/api/debug/headers', mode: 'echo' })
    const named = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })
    const passthrough = await context.app.inject({ method: 'GET', url: '/proxy/auth/api/debug/headers', headers: { cookie } })

    const sentTokens = context.sim.requests.map((request) => authorizationOf(request)?.replace('Bearer ', '')).filter((token) => token !== undefined)
    expect(sentTokens.length).toBeGreaterThanOrEqual(2)
    for (const response of [named, passthrough]) {
      expect(response.statusCode).toBe(200)
      const echoed = response.json().headers
      // The echo itself came through; only the credentials were cut out of it.
      expect(echoed.authorization).toBe('Bearer [withheld]')
      expect(echoed['ocp-apim-subscription-key']).toBe('[withheld]')
      expect(echoed['x-request-id']).toBe(response.headers['x-request-id'])
      for (const token of sentTokens) expect(response.body).not.toContain(token)
      expect(response.body).not.toContain(SUBSCRIPTION_KEY)
    }
    expect(await waitFor(() => context.logs.some((line) => line.includes('credentials the call carried were cut out')), 2000)).toBe(true)
    for (const token of sentTokens) expect(context.logs.join('\n')).not.toContain(token)
  })
})

describe('upstream Location and Cache-Control (review finding: internal host and public caching passed on)', () => {
  it('rewrites a redirect to the upstream into the passthrough, and keeps other hosts', async () => {
    const context = await setup()
    const cookie = await login(context)
    const cases: Array<[string, string, string | undefined]> = [
      ['ejento', `${context.sim.apiUrl}/api/agents/?skip=1`, '/proxy/ejento/api/agents/?skip=1'],
      ['auth', '/api/users/', '/proxy/auth/api/users/'],
      ['ejento', 'next-page', 'next-page'],
      ['ejento', 'https://files.example.com/blob/1?sig=x', 'https://files.example.com/blob/1?sig=x']
    ]
    for (const [upstream, location, expected] of cases) {
      const path = upstream === 'ejento' ? '/api/agents' : '/api/users'
      context.sim.inject({ upstream: upstream === 'ejento' ? 'api' : 'auth', path, status: 307, body: {}, headers: { location } })
      const response = await context.app.inject({ method: 'GET', url: `/proxy/${upstream}${path}`, headers: { cookie } })
      expect(response.statusCode, location).toBe(307)
      expect(response.headers.location, location).toBe(expected)
    }
  })

  it('maps a redirect under the upstream\'s base path, and withholds one on its host outside it', async () => {
    const sim = await setup()
    const context = await setup({ env: { EJENTO_API_URL: `${sim.sim.apiUrl}/ejento` } })
    const cookie = await login(context)
    const cases: Array<[string, string | undefined]> = [
      [`${sim.sim.apiUrl}/ejento/api/agents/`, '/proxy/ejento/api/agents/'],
      [`${sim.sim.apiUrl}/internal/admin`, undefined],
      ['/internal/admin', undefined]
    ]
    for (const [location, expected] of cases) {
      sim.sim.inject({ upstream: 'api', path: '/ejento/api/agents', status: 307, body: {}, headers: { location } })
      const response = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
      expect(response.statusCode, location).toBe(307)
      expect(response.headers.location, location).toBe(expected)
    }
  })

  it('never passes on Cache-Control: public; answers say no-store', async () => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 200, body: { success: true, data: [] }, headers: { 'cache-control': 'public, max-age=3600', expires: 'Thu, 01 Dec 2099 16:00:00 GMT' } })
    const response = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.headers.expires).toBeUndefined()
  })
})

describe('deeply nested upstream JSON (review finding: data past 32 levels was silently replaced by null)', () => {
  const nested = (depth: number): unknown => {
    let value: unknown = 'bottom'
    for (let level = 0; level < depth; level++) value = { next: value }
    return value
  }

  it('passes 200 levels through intact on a named route and on the passthrough', async () => {
    const context = await setup()
    const cookie = await login(context)
    const body = { success: true, data: nested(200) }
    context.sim.inject({ upstream: 'api', path: '/api/agent/1/chat-thread', status: 201, body })
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 200, body })
    const named = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })
    expect(named.statusCode).toBe(201)
    expect(named.json()).toEqual(body)
    const passthrough = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
    expect(passthrough.json()).toEqual(body)
  })

  it('answers 502 upstream_invalid_response past 256 levels, never a 500', async () => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: '/api/agent/1/chat-thread', status: 201, body: { data: nested(300) } })
    const response = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })
    expect(response.statusCode).toBe(502)
    expect(response.json().code).toBe('upstream_invalid_response')
  })
})

/** Regressions from a second review of the answer checks. */
describe('JSON answers of every JSON type are checked (review finding: text/json and ndjson skipped the token check)', () => {
  it('strips token fields from text/json, application/x-json and +json documents', async () => {
    const context = await setup()
    const cookie = await login(context)
    for (const type of ['text/json', 'application/x-json', 'application/vnd.api+json; charset=utf-8']) {
      context.sim.inject({ upstream: 'auth', path: '/api/users/me', status: 200, body: JSON.stringify({ access_token: 'eyJhbGciOiJub25lIn0.e30.', ok: 1 }), headers: { 'content-type': type } })
      const response = await context.app.inject({ method: 'GET', url: '/proxy/auth/api/users/me', headers: { cookie } })
      expect(response.statusCode, type).toBe(200)
      expect(JSON.parse(response.body), type).toEqual({ ok: 1 })
    }
  })

  it('cleans ndjson and json-seq line by line: token fields and echoed credentials go, other lines pass byte for byte', async () => {
    const context = await setup({ env: { EJENTO_SUBSCRIPTION_KEY: SUBSCRIPTION_KEY }, sim: { subscriptionKey: SUBSCRIPTION_KEY } })
    const cookie = await login(context)
    const lines = ['{"n": 1}\n', '{"n":2,"refresh_token":"r-secret-value"}\n', `{"n":3,"seen":"key=${SUBSCRIPTION_KEY}"}\r\n`, 'not json at all\n', '{"n":5}']
    context.sim.inject({ upstream: 'auth', path: '/api/users/export', status: 200, chunks: lines.map((line) => line.slice(0, 5)).map((head, index) => head + (lines[index] as string).slice(5)), headers: { 'content-type': 'application/x-ndjson' } })
    const ndjson = await context.app.inject({ method: 'GET', url: '/proxy/auth/api/users/export', headers: { cookie } })
    expect(ndjson.statusCode).toBe(200)
    expect(ndjson.body).toBe('{"n": 1}\n{"n":2}\n{"n":3,"seen":"key=[withheld]"}\r\nnot json at all\n{"n":5}')

    const records = ['\x1e{"a":1}\n', '\x1e{"a":2,"access_token":"x"}\n']
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 200, chunks: [records.join('').slice(0, 7), records.join('').slice(7)], headers: { 'content-type': 'application/json-seq' } })
    const seq = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
    expect(seq.body).toBe('\x1e{"a":1}\n\x1e{"a":2}\n')
  })

  it('passes a JSON answer that needs no change byte for byte, whatever its encoding (review finding: re-encoded as UTF-8)', async () => {
    const context = await setup()
    const cookie = await login(context)
    const latin1 = Buffer.from('{"name":"caf\xe9"}', 'latin1')
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 200, body: latin1, headers: { 'content-type': 'application/json; charset=iso-8859-1' } })
    const response = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
    expect(response.rawPayload.equals(latin1)).toBe(true)
  })
})

describe('Location on any scheme or either upstream (review finding: http:// and the other upstream\'s host passed through)', () => {
  it('maps the other scheme and the other upstream, and withholds what does not parse', async () => {
    const context = await setup()
    const cookie = await login(context)
    const api = new URL(context.sim.apiUrl)
    const cases: Array<[string, string | undefined]> = [
      [`https://${api.host}/api/agents/`, '/proxy/ejento/api/agents/'],
      [`${context.sim.authUrl}/api/users/me`, '/proxy/auth/api/users/me'],
      ['http://internal-host:99999/x', undefined]
    ]
    for (const [location, expected] of cases) {
      context.sim.inject({ upstream: 'api', path: '/api/agents', status: 307, body: {}, headers: { location } })
      const response = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
      expect(response.headers.location, location).toBe(expected)
    }
  })
})

describe('sign-up answers and 5xx headers (review findings)', () => {
  it('withholds the subscription key and the password from a sign-up answer that echoes the call', async () => {
    const context = await setup({ env: { EJENTO_SUBSCRIPTION_KEY: SUBSCRIPTION_KEY }, sim: { subscriptionKey: SUBSCRIPTION_KEY } })
    context.sim.inject({ upstream: 'auth', path: '/api/users/signup', mode: 'echo' })
    const password = 'a-long-new-password-1'
    const response = await context.app.inject({ method: 'POST', url: '/auth/signup', payload: { email: 'new@example.com', password } })
    expect(response.statusCode).toBe(200)
    expect(response.json().headers['ocp-apim-subscription-key']).toBe('[withheld]')
    expect(response.body).not.toContain(SUBSCRIPTION_KEY)
    expect(response.body).not.toContain(password)
  })

  it('keeps an upstream 503\'s Retry-After on the 502', async () => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 503, body: { detail: 'busy' }, headers: { 'retry-after': '7' } })
    const response = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie } })
    expect(response.statusCode).toBe(502)
    expect(response.headers['retry-after']).toBe('7')
  })
})
