import { createHash, randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import type { LightMyRequestResponse } from 'fastify'
import { Client } from 'undici'
import { describe, expect, it } from 'vitest'
import { login, onCleanup, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { PROFILES, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'

const DOCUMENTS = '/proxy/ejento/api/agent/1/documents'

function expectProblem (response: LightMyRequestResponse, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toContain('application/problem+json')
  expect(response.json()).toMatchObject({ status, code })
}

/** The `typ` claim ('auth' or 'ejento') of the bearer JWT an upstream request carried. */
function tokenKind (headers: IncomingHttpHeaders): unknown {
  const match = /^Bearer ([^.]+)\.([^.]+)\.([^.]+)$/.exec(headers.authorization ?? '')
  if (match === null) throw new Error(`no bearer JWT in ${String(headers.authorization)}`)
  return (JSON.parse(Buffer.from(match[2] as string, 'base64url').toString('utf8')) as { typ?: unknown }).typ
}

function sha256 (data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Posts a body to the documents endpoint through the passthrough; the upstream answers what it received. */
async function postDocument (context: TestContext, cookie: string, contentType: string, payload: string | Buffer): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: 'POST', url: DOCUMENTS, headers: { cookie, 'content-type': contentType }, payload })
}

/** The upstream got exactly this body, with this content type. */
function expectDelivered (response: LightMyRequestResponse, contentType: string, payload: Buffer): void {
  expect(response.statusCode, response.body).toBe(201)
  const data = response.json().data
  expect(data.content_type).toBe(contentType)
  expect(data.bytes).toBe(payload.length)
  expect(data.sha256).toBe(sha256(payload))
}

/** The BFF on a real port, and an undici client that sends paths exactly as written (no URL normalisation). */
async function listening (context: TestContext): Promise<Client> {
  await context.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = context.app.server.address() as AddressInfo
  const client = new Client(`http://127.0.0.1:${port}`)
  onCleanup(async () => { await client.close() })
  return client
}

async function rawCall (client: Client, path: string, cookie: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await client.request({ method, path, headers: { cookie } })
  const text = await response.body.text()
  return { status: response.statusCode, body: JSON.parse(text) as Record<string, unknown> }
}

describe.each(PROFILES)('passthrough on %s', (_name, profile) => {
  const AGENTS = profile.agentsPath

  it(`forwards GET /proxy/ejento${AGENTS} to ${AGENTS} with the Ejento token and the query unchanged`, async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const before = context.sim.requests.length
    const response = await context.app.inject({ method: 'GET', url: `/proxy/ejento${AGENTS}?a=1&b=%20x`, headers: { cookie } })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ success: true, data: expect.any(Array) })
    const [record, ...others] = context.sim.requests.slice(before)
    expect(others).toHaveLength(0)
    expect(record?.upstream).toBe('api')
    expect(record?.method).toBe('GET')
    expect(record?.path).toBe(AGENTS)
    expect(record?.url).toBe(`${AGENTS}?a=1&b=%20x`)
    expect(tokenKind(record?.headers ?? {})).toBe('ejento')
  })

  it(`forwards /proxy/auth${profile.paths.auth.users} with the auth-app token`, async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const response = await context.app.inject({ method: 'GET', url: `/proxy/auth${profile.paths.auth.users}?skip=0&limit=1`, headers: { cookie } })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({ count: 2, data: [expect.objectContaining({ email: expect.any(String) })] })
    const record = context.sim.requestsTo('auth', exactPath(profile.paths.auth.users))[0]
    expect(record?.url).toBe(`${profile.paths.auth.users}?skip=0&limit=1`)
    expect(tokenKind(record?.headers ?? {})).toBe('auth')
  })

  it('never forwards the browser\'s cookie or authorization header', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const response = await context.app.inject({
      method: 'GET',
      url: `/proxy/ejento${AGENTS}`,
      headers: { cookie: `${cookie}; other=browser-cookie`, authorization: 'Bearer browser-supplied-token' }
    })
    expect(response.statusCode, response.body).toBe(200)
    const record = context.sim.requestsTo('api', exactPath(AGENTS))[0]
    expect(record?.headers.cookie).toBeUndefined()
    expect(record?.headers.authorization).not.toContain('browser-supplied-token')
    expect(tokenKind(record?.headers ?? {})).toBe('ejento')
    expect(JSON.stringify(record?.headers)).not.toContain('browser-cookie')
  })

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'] as const)('%s passes with its JSON body, content-type and method', async (method) => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const payload = JSON.stringify({ method, nested: { list: [1, 2, 3] }, text: 'héllo' })
    const response = await context.app.inject({
      method,
      url: '/proxy/ejento/api/things/42?x=1',
      headers: { cookie, 'content-type': 'application/json' },
      payload
    })
    // The simulator has no such route: its 404 passes through as it is.
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ success: false, message: 'Not found' })
    const record = context.sim.requestsTo('api', /^\/api\/things\/42$/)[0]
    expect(record?.method).toBe(method)
    expect(record?.url).toBe('/api/things/42?x=1')
    expect(record?.headers['content-type']).toBe('application/json')
    expect(record?.body.toString('utf8')).toBe(payload)
    expect(Number(record?.headers['content-length'])).toBe(Buffer.byteLength(payload))
  })

  it('refreshes once on an upstream 401 and retries with the same body', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    context.sim.expireTokens('ejento')
    // A call that checks the token and reads the body: the guide simulator's upload (it answers
    // what it received), v2's thread creation.
    const target = profile.name === 'v2' ? profile.paths.api.chatThread('1') : '/api/agent/1/documents'
    const payload = JSON.stringify({ title: 'retry me', size: 3, bytes: randomBytes(64).toString('base64') })
    const response = await context.app.inject({ method: 'POST', url: `/proxy/ejento${target}`, headers: { cookie, 'content-type': 'application/json' }, payload })
    expect(response.statusCode, response.body).toBe(201)
    if (profile.name === 'guide') expect(response.json().data.sha256).toBe(sha256(Buffer.from(payload)))
    expect(context.sim.counter('refresh')).toBe(1)
    const attempts = context.sim.requestsTo('api', exactPath(target))
    expect(attempts).toHaveLength(2)
    const [first, second] = attempts
    expect(first?.body.toString('utf8')).toBe(payload)
    expect(second?.body.equals(first?.body ?? Buffer.alloc(0))).toBe(true)
    expect(second?.headers['content-type']).toBe('application/json')
    // A fresh Ejento token on the retry.
    expect(second?.headers.authorization).not.toBe(first?.headers.authorization)
    expect(tokenKind(second?.headers ?? {})).toBe('ejento')
  })

  it('keeps etag and drops set-cookie, www-authenticate and CORS headers of the upstream', async () => {
    const context = await setup({ profile })
    const cookie = await login(context)
    context.sim.inject({
      upstream: 'api',
      path: AGENTS,
      status: 200,
      body: { success: true, data: [] },
      headers: {
        'set-cookie': 'upstream=1',
        'www-authenticate': 'Bearer',
        'access-control-allow-origin': '*',
        etag: '"x"'
      }
    })
    const response = await context.app.inject({ method: 'GET', url: `/proxy/ejento${AGENTS}`, headers: { cookie } })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toEqual({ success: true, data: [] })
    expect(response.headers.etag).toBe('"x"')
    expect(response.headers['www-authenticate']).toBeUndefined()
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    expect(String(response.headers['set-cookie'] ?? '')).not.toContain('upstream=1')
    expect(response.cookies.find((candidate) => candidate.name === 'upstream')).toBeUndefined()
  })

  it.each(tokenPathsOf(profile))('refuses the token-issuing path %s with 403 path_forbidden', async (url) => {
    const context = await setup({ profile })
    const cookie = await login(context)
    const before = context.sim.requests.length
    for (const method of ['GET', 'POST'] as const) {
      const response = await context.app.inject({
        method,
        url,
        headers: { cookie, ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(method === 'POST' ? { payload: 'username=demo%40example.com&password=demo-password' } : {})
      })
      expectProblem(response, 403, 'path_forbidden')
      expect(response.body).not.toMatch(/access_token/)
    }
    expect(context.sim.requests.length).toBe(before)
    expect(context.sim.counter('refresh')).toBe(0)
  })
})

/** The profile's own token-issuing paths through the auth passthrough, in several spellings. */
function tokenPathsOf (profile: TestProfile): string[] {
  const { login, refresh } = profile.paths.auth
  const paths = [
    `/proxy/auth${login}`,
    `/proxy/auth${login.replace(/access-token$/, '')}`,
    `/proxy/auth${login.toUpperCase()}`,
    `/proxy/auth${refresh}`,
    `/proxy/auth${login.replace('/login/', '/%6Cogin/')}`,
    `/proxy/auth${refresh}?x=1`
  ]
  const { passwordlessVerify, ssoLogin } = profile.paths.auth
  if (passwordlessVerify !== undefined) paths.push(`/proxy/auth${passwordlessVerify}`)
  if (ssoLogin !== undefined) paths.push(`/proxy/auth${ssoLogin('google')}?next=https://example.com/`)
  return paths
}

// Anonymous calls, the body's bytes and limits, unsafe paths and the retry buffer end in the BFF's
// own code, one for both profiles: run once, on the guide (whose simulator has an upload that
// answers what it received).
describe('passthrough: anonymous calls', () => {
  it('answers an anonymous call 401 not_authenticated without calling upstream', async () => {
    const context = await setup()
    for (const url of ['/proxy/ejento/api/agents', '/proxy/auth/api/users/me']) {
      expectProblem(await context.app.inject({ method: 'GET', url }), 401, 'not_authenticated')
    }
    expectProblem(await context.app.inject({ method: 'POST', url: DOCUMENTS, payload: { a: 1 } }), 401, 'not_authenticated')
    expect(context.sim.requests).toHaveLength(0)
  })
})

describe('passthrough: methods and bodies', () => {
  it('passes a urlencoded form body as it is', async () => {
    const context = await setup()
    const cookie = await login(context)
    const payload = 'name=J%C3%BCrgen+X&list=a&list=b&empty=&sym=%26%3D%2B'
    const response = await postDocument(context, cookie, 'application/x-www-form-urlencoded', payload)
    expectDelivered(response, 'application/x-www-form-urlencoded', Buffer.from(payload))
  })

  it('passes random binary bytes (application/octet-stream) exactly', async () => {
    const context = await setup()
    const cookie = await login(context)
    const payload = randomBytes(5000)
    const response = await postDocument(context, cookie, 'application/octet-stream', payload)
    expectDelivered(response, 'application/octet-stream', payload)
  })

  it('passes a hand-built multipart/form-data upload byte for byte, boundary included', async () => {
    const context = await setup()
    const cookie = await login(context)
    const boundary = `----bff-test-${randomBytes(8).toString('hex')}`
    const file = randomBytes(32 * 1024)
    const payload = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nQuarterly report\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="report.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${boundary}--\r\n`)
    ])
    const contentType = `multipart/form-data; boundary=${boundary}`
    const response = await postDocument(context, cookie, contentType, payload)
    expectDelivered(response, contentType, payload)
    const record = context.sim.requestsTo('api', /\/documents$/)[0]
    expect(record?.body.equals(payload)).toBe(true)
  })

  it('answers 413 body_too_large for a body over PROXY_BODY_LIMIT, without calling upstream', async () => {
    const context = await setup({ env: { PROXY_BODY_LIMIT: '10kb' } })
    const cookie = await login(context)
    const before = context.sim.requests.length
    const response = await postDocument(context, cookie, 'application/octet-stream', randomBytes(20 * 1024))
    expectProblem(response, 413, 'body_too_large')
    expect(context.sim.requests.length).toBe(before)
  })

  it('answers 413 body_too_large for a chunked body (no content-length) over PROXY_BODY_LIMIT, without calling upstream', async () => {
    const context = await setup({ env: { PROXY_BODY_LIMIT: '10kb' } })
    const cookie = await login(context)
    const client = await listening(context)
    const before = context.sim.requests.length
    async function * chunks (): AsyncGenerator<Buffer> {
      for (let index = 0; index < 20; index++) yield randomBytes(1024)
    }
    const response = await client.request({
      method: 'POST',
      path: DOCUMENTS,
      headers: { cookie, 'content-type': 'application/octet-stream' },
      body: Readable.from(chunks())
    })
    const text = await response.body.text()
    expect(response.statusCode, text).toBe(413)
    expect(JSON.parse(text)).toMatchObject({ code: 'body_too_large' })
    expect(context.sim.requests.length).toBe(before)
  })
  it('answers 413 when a chunked body grows past PROXY_BODY_LIMIT after streaming began, and aborts the upstream call', async () => {
    const context = await setup({ env: { PROXY_BODY_LIMIT: '10kb', PROXY_RETRY_BUFFER: '1kb' } })
    const cookie = await login(context)
    const client = await listening(context)
    const before = context.sim.requests.length
    async function * chunks (): AsyncGenerator<Buffer> {
      for (let index = 0; index < 20; index++) {
        yield randomBytes(1024)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
    const response = await client.request({
      method: 'POST',
      path: DOCUMENTS,
      headers: { cookie, 'content-type': 'application/octet-stream' },
      body: Readable.from(chunks())
    })
    const text = await response.body.text()
    expect(response.statusCode, text).toBe(413)
    expect(JSON.parse(text)).toMatchObject({ code: 'body_too_large' })
    // Streaming had begun, so the upstream saw the call start; it must never see it complete.
    await new Promise((resolve) => setTimeout(resolve, 200))
    for (const record of context.sim.requests.slice(before)) {
      expect(record.completed).toBe(false)
      expect(record.body.length).toBeLessThanOrEqual(10 * 1024)
    }
  })
})

describe('passthrough: refused paths', () => {
  it.each([
    '/proxy/ejento/api/..%2F..%2Fx',
    '/proxy/ejento/api/%2e%2e/x',
    '/proxy/ejento/api/%252e%252e/x',
    '/proxy/ejento/api/a%2Fb',
    '/proxy/ejento/api/a%5Cb',
    '/proxy/ejento/api/a%00b',
    '/proxy/ejento//api/agents',
    '/proxy/ejento/api/../../x',
    '/proxy/ejento/api/./agents',
    '/proxy/auth/api/users/%2e%2e/%2e%2e/x'
  ])('refuses %s (sent raw) with 400 unsafe_path', async (path) => {
    const context = await setup()
    const cookie = await login(context)
    const client = await listening(context)
    const before = context.sim.requests.length
    const answer = await rawCall(client, path, cookie)
    expect(answer.status, JSON.stringify(answer.body)).toBe(400)
    expect(answer.body).toMatchObject({ code: 'unsafe_path' })
    expect(context.sim.requests.length).toBe(before)
  })

  it('a raw `..` path is refused over POST too, before the body is forwarded', async () => {
    const context = await setup()
    const cookie = await login(context)
    const client = await listening(context)
    const before = context.sim.requests.length
    const answer = await rawCall(client, '/proxy/ejento/api/agent/1/../../../api/agents', cookie, 'POST')
    expect(answer.status).toBe(400)
    expect(answer.body).toMatchObject({ code: 'unsafe_path' })
    expect(context.sim.requests.length).toBe(before)
  })
})

describe('passthrough: refresh and retry', () => {
  it('does not retry a streamed body over PROXY_RETRY_BUFFER: the upstream 401 passes through, and the refresh it triggered makes the next upload work', async () => {
    const context = await setup({ env: { PROXY_RETRY_BUFFER: '1kb' } })
    const cookie = await login(context)
    context.sim.expireTokens('ejento')
    const payload = randomBytes(64 * 1024)
    const response = await postDocument(context, cookie, 'application/octet-stream', payload)
    expect(response.statusCode).toBe(401)
    expect(response.json()).toEqual({ success: false, message: 'Invalid or expired token' })
    const attempts = context.sim.requestsTo('api', /\/documents$/)
    expect(attempts).toHaveLength(1)
    // The one attempt got the whole body, streamed.
    expect(attempts[0]?.body.equals(payload)).toBe(true)
    // The session's tokens were refreshed all the same: the browser's own retry goes through.
    expect(context.sim.counter('refresh')).toBe(1)
    expectDelivered(await postDocument(context, cookie, 'application/octet-stream', payload), 'application/octet-stream', payload)
    expect(context.sim.counter('refresh')).toBe(1)
  })
})
