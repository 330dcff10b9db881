import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { beforeAll, describe, expect, it } from 'vitest'
import { BffError, ClientError, createClient } from '../client/src/index.js'
import { MAX_ERROR_BODY_SIZE } from '../client/src/http.js'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { DEMO, onCleanup, onFileCleanup } from './helpers/app.js'
import { browser, collect, rejection } from './helpers/client-browser.js'
import { waitFor } from './helpers/processes.js'
import { GUIDE } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/*
 * Answers that are not the BFF's contract (a proxy's error page, a web server that is not the
 * BFF, a broken or hostile server) reach the caller as the client's typed errors, never as a
 * TypeError or SyntaxError from inside it, never as a call that hangs on an endless body, and
 * never as another origin's answer taken for the BFF's (found attacking issue 13's client).
 */

interface Hostile { base: string, requests: () => Array<{ method: string, url: string, body: string }>, closed: () => boolean }

/** A server on a random port answering every request with `handler`; it records what it receives. */
async function hostileServer (handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<Hostile> {
  const requests: Array<{ method: string, url: string, body: string }> = []
  let closed = false
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => { body += chunk })
    request.on('end', () => { requests.push({ method: request.method ?? '', url: request.url ?? '', body }) })
    response.on('close', () => { closed = true })
    handler(request, response)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests, closed: () => closed }
}

function answer (status: number, headers: Record<string, string>, body: string) {
  return (_request: IncomingMessage, response: ServerResponse): void => {
    response.writeHead(status, headers)
    response.end(body)
  }
}

const PROBLEM = { type: 'about:blank', title: 'Bad Request', status: 400, code: 'validation_failed', detail: 'Refused.' }

describe('error answers the client cannot take at their word', () => {
  it('a problem whose errors are not a list of {path, message} is a BffError with its status and body, not a TypeError', async () => {
    for (const errors of ['oops', [null, 5], [{ path: 5, message: {} }]]) {
      const hostile = await hostileServer(answer(400, { 'content-type': 'application/problem+json' }, JSON.stringify({ ...PROBLEM, errors })))
      const failure = await rejection(createClient({ baseUrl: hostile.base }).session())
      expect(failure, JSON.stringify(errors)).toBeInstanceOf(BffError)
      // Not a problem the type describes: no code, no problem; the body as it came.
      expect(failure).toMatchObject({ status: 400, code: undefined, problem: undefined, body: { ...PROBLEM, errors } })
    }
    // A well-formed one stays a problem, its fields in the message.
    const good = await hostileServer(answer(400, { 'content-type': 'application/problem+json' }, JSON.stringify({ ...PROBLEM, errors: [{ path: '/email', message: 'must be an e-mail' }] })))
    const failure = await rejection(createClient({ baseUrl: good.base }).session())
    expect(failure).toMatchObject({ status: 400, code: 'validation_failed', message: 'Refused. email must be an e-mail' })
  })

  it('a proxy\'s HTML error page is a BffError without a detail, its message the status, not the page', async () => {
    const page = `<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>${' '.repeat(5000)}</body></html>`
    const hostile = await hostileServer(answer(502, { 'content-type': 'text/html' }, page))
    const failure = await rejection(createClient({ baseUrl: hostile.base }).session())
    expect(failure).toBeInstanceOf(BffError)
    expect(failure).toMatchObject({ status: 502, detail: undefined, body: page, message: 'The server answered 502 Bad Gateway' })
  })

  it('a long text error is cut in the message, kept in the body', async () => {
    const text = 'e'.repeat(10_000)
    const hostile = await hostileServer(answer(500, { 'content-type': 'text/plain' }, text))
    const failure = await rejection(createClient({ baseUrl: hostile.base }).session()) as BffError
    expect(failure.body).toBe(text)
    expect(failure.message.length).toBeLessThanOrEqual(300)
  })

  it('an error body that never ends is read up to MAX_ERROR_BODY_SIZE: the call fails with its status and lets go of the connection', async () => {
    const hostile = await hostileServer((_request, response) => {
      response.writeHead(500, { 'content-type': 'text/plain' })
      const chunk = 'e'.repeat(16 * 1024)
      const more = (): void => {
        if (response.destroyed) return
        if (response.write(chunk)) setImmediate(more)
        else response.once('drain', more)
      }
      more()
    })
    const failure = await rejection(createClient({ baseUrl: hostile.base }).session()) as BffError
    expect(failure).toBeInstanceOf(BffError)
    expect(failure.status).toBe(500)
    expect((failure.body as string).length).toBe(MAX_ERROR_BODY_SIZE)
    expect(await waitFor(hostile.closed, 10_000)).toBe(true)
  })
})

describe('2xx answers that are not the BFF\'s', () => {
  it('an HTML page answered 200 (baseUrl reaching a web server, not the BFF) is ClientError invalid_answer, for a call and for ask()', async () => {
    const hostile = await hostileServer(answer(200, { 'content-type': 'text/html' }, '<!doctype html><html><body>index.html</body></html>'))
    const client = createClient({ baseUrl: hostile.base })
    const failure = await rejection(client.session())
    expect(failure).toBeInstanceOf(ClientError)
    expect(failure).toMatchObject({ code: 'invalid_answer' })
    expect((failure as Error).message).toContain('GET /auth/session answered 200')
    expect((failure as Error).cause).toBeInstanceOf(SyntaxError)
    expect(await rejection(collect(client.ask(1, { user_query: 'Hello?' })))).toMatchObject({ name: 'ClientError', code: 'invalid_answer' })
  })

  it('ask() answered 200 with nothing is ClientError invalid_answer, not an answer event without its answer', async () => {
    const hostile = await hostileServer(answer(200, { 'content-type': 'application/json' }, ''))
    const failure = await rejection(collect(createClient({ baseUrl: hostile.base }).ask(1, { user_query: 'Hello?' })))
    expect(failure).toMatchObject({ name: 'ClientError', code: 'invalid_answer' })
  })

  it('a call redirected to another origin is ClientError unexpected_redirect: that origin\'s answer is not taken for the BFF\'s', async () => {
    const elsewhere = await hostileServer(answer(200, { 'content-type': 'application/json' }, JSON.stringify({ authenticated: true, user: { email: 'someone@elsewhere.example' } })))
    for (const status of [302, 307]) {
      const redirecting = await hostileServer(answer(status, { location: `${elsewhere.base}/auth/login` }, ''))
      const failure = await rejection(createClient({ baseUrl: redirecting.base }).login({ email: 'demo@example.com', password: 'demo-password' }))
      expect(failure, String(status)).toBeInstanceOf(ClientError)
      expect(failure).toMatchObject({ code: 'unexpected_redirect' })
    }
  })
})

describe('proxy() arguments', () => {
  it('an upstream other than ejento or auth (a JavaScript caller\'s) is ClientError invalid_option, not sent', async () => {
    const hostile = await hostileServer(answer(200, { 'content-type': 'application/json' }, '{}'))
    const client = createClient({ baseUrl: hostile.base })
    for (const upstream of ['ejento/../../auth', 'other', '']) {
      const failure = await rejection(client.proxy(upstream as 'ejento', '/api/users/me/password'))
      expect(failure, upstream).toMatchObject({ name: 'ClientError', code: 'invalid_option' })
    }
    expect(hostile.requests()).toEqual([])
  })

  it('a path with a query and a query option make one query', async () => {
    const hostile = await hostileServer(answer(200, { 'content-type': 'application/json' }, '{}'))
    await createClient({ baseUrl: hostile.base }).proxy('ejento', '/api/agents?skip=0', { query: { limit: 5 } })
    await waitFor(() => hostile.requests().length > 0, 10_000)
    expect(hostile.requests()[0]?.url).toBe('/proxy/ejento/api/agents?skip=0&limit=5')
  })
})

describe('against the compiled BFF', () => {
  let sim: Simulator
  let server: RealServer

  beforeAll(async () => {
    sim = await startSimulator(GUIDE.sim)
    onFileCleanup(sim.close)
    server = await startRealServer(sim, { ...GUIDE.env, AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }, onFileCleanup)
  })

  it('a redirect of Ejento\'s through the passthrough stays on the BFF\'s origin and is followed', async () => {
    const { client } = browser(server)
    await client.login(DEMO)
    sim.inject({ upstream: 'api', path: '/api/agents-moved', status: 307, headers: { location: `${sim.apiUrl}/api/agents` }, body: '' })
    const agents = await client.proxy<{ data: Array<{ name: string }> }>('ejento', '/api/agents-moved')
    expect(agents.data.length).toBeGreaterThan(0)
  })

  it('the BFF\'s own validation problem stays a problem, with its code and fields', async () => {
    const { client } = browser(server)
    const failure = await rejection(client.login({ email: 'demo@example.com' } as never))
    expect(failure).toBeInstanceOf(BffError)
    expect(failure).toMatchObject({ status: 400, code: 'validation_failed', problem: { errors: [{ path: '/password' }] } })
  })
})
