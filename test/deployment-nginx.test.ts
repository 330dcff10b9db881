import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import type { Dispatcher } from 'undici'
import { expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../src/simulator/index.js'
import { DEMO, onCleanup } from './helpers/app.js'
import { describeWithNginx, selfSignedCertificate, startNginx } from './helpers/nginx.js'
import type { Certificate } from './helpers/nginx.js'
import { ROOT, spawnServer, waitFor } from './helpers/processes.js'
import { alive } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'
import { describeWithRedis, REDIS_URL, testPrefix } from './helpers/redis.js'

/*
 * The README's production setup, followed literally: its `.env` for both instances and its
 * nginx configuration, which includes deploy/nginx/ as it is. Only what must differ here is
 * replaced: Ejento (the simulator), the secret, free ports, the certificate (openssl makes
 * one), and a Redis key prefix of the test's own.
 */
const production = section(readFileSync(join(ROOT, 'README.md'), 'utf8'), '## Production')
const README_ENV = parseEnv(codeBlock(production, 'sh'))
const README_NGINX = codeBlock(production, 'nginx')

function section (markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}\n`)
  if (start === -1) throw new Error(`README.md has no "${heading}" section`)
  const end = markdown.indexOf('\n## ', start + heading.length + 2)
  return markdown.slice(start, end === -1 ? undefined : end)
}

/** The first fenced block of a language, without the list item's indentation. */
function codeBlock (markdown: string, language: string): string {
  const match = new RegExp(`^( *)\`\`\`${language}\\n([\\s\\S]*?)^ *\`\`\``, 'm').exec(markdown)
  if (match === null) throw new Error(`README.md's production section has no ${language} block`)
  const indent = match[1] as string
  return (match[2] as string).split('\n').map((line) => line.startsWith(indent) ? line.slice(indent.length) : line).join('\n')
}

function parseEnv (block: string): Record<string, string> {
  return Object.fromEntries(block.split('\n').filter((line) => /^[A-Z_]+=/.test(line)).map((line) => {
    const equals = line.indexOf('=')
    return [line.slice(0, equals), line.slice(equals + 1)]
  }))
}

/** `text` with `from` replaced by `to`, which must occur exactly `times` times: the README must still say it. */
function replaced (text: string, from: string, to: string, times = 1): string {
  const count = text.split(from).length - 1
  if (count !== times) throw new Error(`README.md's nginx configuration has "${from}" ${count} times, not ${times}`)
  return text.replaceAll(from, to)
}

function nginxHttpBlock (port: number, instances: readonly RealServer[], certificate: Certificate): string {
  const [a, b] = instances.map((instance) => new URL(instance.base).host)
  let config = replaced(README_NGINX, '/etc/nginx/ejento-bff/', `${join(ROOT, 'deploy', 'nginx')}/`, 2)
  config = replaced(config, 'server 127.0.0.1:3001;', `server ${a as string};`)
  config = replaced(config, 'server 127.0.0.1:3002;', `server ${b as string};`)
  config = replaced(config, 'listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
  config = replaced(config, '/etc/ssl/certs/bff.example.com.pem', certificate.certFile)
  return replaced(config, '/etc/ssl/private/bff.example.com.key', certificate.keyFile)
}

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: any
  setCookie: string[]
}

/**
 * A browser on its own address: it talks https to nginx, trusting only the test's certificate,
 * sends `Origin` and `Sec-Fetch-Site` as a page of the BFF's origin does, and keeps the cookie.
 */
interface Browser {
  cookie: string | undefined
  send: (method: Dispatcher.HttpMethod, path: string, options?: { json?: unknown, body?: Buffer, headers?: Record<string, string>, cookie?: string }) => Promise<Answer>
  stream: (path: string, json: unknown) => Promise<{ status: number, headers: Answer['headers'], events: Array<{ event: string, at: number }> }>
}

interface Deployment {
  /** The public origin: https on nginx's port. */
  origin: string
  instances: [RealServer, RealServer]
  browser: (localAddress: string) => Browser
  /** Which instance (0 or 1) answered, found by the request id nginx made, in the instances' logs. */
  servedBy: (answer: { headers: Answer['headers'] }) => Promise<number>
  /** The client address the instance that answered logged for this request. */
  clientAddressOf: (answer: Answer) => Promise<unknown>
}

/** The simulator standing in for Ejento, closed after the test. */
async function ejento (options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(options)
  onCleanup(sim.close)
  return sim
}

/** The README's setup in front of `sim` (its API server reached at `apiUrl`, when given). */
async function deploy (sim: Simulator, options: { env?: Record<string, string>, apiUrl?: string } = {}): Promise<Deployment> {
  const env = {
    ...README_ENV,
    EJENTO_AUTH_URL: sim.authUrl,
    EJENTO_API_URL: options.apiUrl ?? sim.apiUrl,
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    REDIS_URL,
    REDIS_KEY_PREFIX: testPrefix(),
    PORT: '0',
    ...options.env
  }
  const instances = await Promise.all([0, 1].map(async () => {
    const server = await spawnServer(env)
    return { ...server, base: await server.listening() }
  })) as [RealServer, RealServer]
  const certificate = await selfSignedCertificate()
  const nginx = await startNginx((port) => nginxHttpBlock(port, instances, certificate))
  const origin = `https://127.0.0.1:${nginx.port}`

  const logLine = async (answer: { headers: Answer['headers'] }): Promise<{ instance: number, line: Record<string, unknown> }> => {
    const id = answer.headers['x-request-id']
    let found: { instance: number, line: Record<string, unknown> } | undefined
    await waitFor(() => {
      for (const [instance, server] of instances.entries()) {
        const line = server.logs().find((candidate) => candidate.reqId === id && candidate.req !== undefined)
        if (line !== undefined) found = { instance, line }
      }
      return found !== undefined
    }, 5000)
    if (found === undefined) throw new Error(`no instance logged request ${String(id)}`)
    return found
  }

  const browser = (localAddress: string): Browser => {
    const agent = new Agent({ localAddress, connect: { ca: certificate.pem } })
    onCleanup(async () => { await agent.close() })
    const headersFor = (method: string, extra: Record<string, string> = {}): Record<string, string> => ({
      'sec-fetch-site': 'same-origin',
      ...(method === 'GET' || method === 'HEAD' ? {} : { origin }),
      ...extra
    })
    const self: Browser = {
      cookie: undefined,
      send: async (method, path, sendOptions = {}) => {
        const headers = headersFor(method, sendOptions.headers)
        const cookie = sendOptions.cookie ?? self.cookie
        if (cookie !== undefined) headers.cookie = cookie
        if (sendOptions.json !== undefined) headers['content-type'] = 'application/json'
        const body = sendOptions.json === undefined ? sendOptions.body : JSON.stringify(sendOptions.json)
        const answer = await request(origin + path, { method, headers, dispatcher: agent, ...(body === undefined ? {} : { body }) })
        const text = await answer.body.text()
        let json: unknown
        try { json = JSON.parse(text) } catch { json = undefined }
        const setCookie = [answer.headers['set-cookie'] ?? []].flat()
        // Like a browser: a cookie set replaces the one kept, an emptied one is dropped.
        for (const line of setCookie) {
          const pair = line.split(';')[0] as string
          self.cookie = pair.endsWith('=') ? undefined : pair
        }
        return { status: answer.statusCode, headers: answer.headers, text, json, setCookie }
      },
      stream: async (path, json) => {
        const headers = headersFor('POST', { accept: 'text/event-stream', 'content-type': 'application/json' })
        if (self.cookie !== undefined) headers.cookie = self.cookie
        const answer = await request(origin + path, { method: 'POST', headers, body: JSON.stringify(json), dispatcher: agent })
        const events: Array<{ event: string, at: number }> = []
        let buffer = ''
        for await (const chunk of answer.body) {
          const at = Date.now()
          buffer += (chunk as Buffer).toString('utf8')
          let end: number
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const event = /^event: (.+)$/m.exec(buffer.slice(0, end))?.[1]
            if (event !== undefined) events.push({ event, at })
            buffer = buffer.slice(end + 2)
          }
        }
        return { status: answer.statusCode, headers: answer.headers, events }
      }
    }
    return self
  }

  return {
    origin,
    instances,
    browser,
    servedBy: async (answer) => (await logLine(answer)).instance,
    clientAddressOf: async (answer) => ((await logLine(answer)).line.req as { remoteAddress?: unknown }).remoteAddress
  }
}

/** Sends `call` until both instances have answered one (nginx takes turns); answers every answer and who served it. */
async function onBoth (deployment: Deployment, call: () => Promise<Answer>): Promise<Array<{ answer: Answer, instance: number }>> {
  const served: Array<{ answer: Answer, instance: number }> = []
  for (let attempt = 0; attempt < 8 && new Set(served.map(({ instance }) => instance)).size < 2; attempt++) {
    const answer = await call()
    served.push({ answer, instance: await deployment.servedBy(answer) })
  }
  expect(new Set(served.map(({ instance }) => instance))).toEqual(new Set([0, 1]))
  return served
}

/** Attributes of a Set-Cookie line, lower-cased names. */
function cookieAttributes (line: string): Map<string, string> {
  return new Map(line.split(';').slice(1).map((part) => {
    const [name = '', ...value] = part.trim().split('=')
    return [name.toLowerCase(), value.join('=')]
  }))
}

/** A TCP hop in front of an upstream that can go away and come back on the same port: an outage. */
async function interruptibleHop (target: string): Promise<{ url: string, stop: () => Promise<void>, start: () => Promise<void> }> {
  const { hostname, port: targetPort } = new URL(target)
  const sockets = new Set<Socket>()
  let server = createServer()
  let port = 0
  const start = async (): Promise<void> => {
    server = createServer((client) => {
      const upstream = connect(Number(targetPort), hostname)
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.once('close', () => sockets.delete(socket))
        socket.on('error', () => { client.destroy(); upstream.destroy() })
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  }
  const stop = async (): Promise<void> => {
    if (!server.listening) return
    const closed = new Promise((resolve) => server.close(resolve))
    for (const socket of sockets) socket.destroy()
    await closed
  }
  await start()
  onCleanup(stop)
  return { url: `http://127.0.0.1:${port}`, stop, start }
}

describeWithRedis('the production setup of the README: nginx with TLS, two compiled instances, Redis', () => {
  describeWithNginx('over https through nginx', { timeout: 60_000 }, () => {
    it('uses the values the README recommends: TRUST_PROXY names nginx\'s address, COOKIE_SECURE stays on', () => {
      expect(README_ENV.TRUST_PROXY).toBe('127.0.0.1')
      expect(README_ENV).not.toHaveProperty('COOKIE_SECURE')
      expect(README_ENV.REDIS_URL).toBe('redis://127.0.0.1:6379')
    })

    it('logs a browser in with a __Host- cookie, serves its session on both instances, and logs it out everywhere', async () => {
      const deployment = await deploy(await ejento())
      const browser = deployment.browser('127.0.0.2')

      // The BFF sees the public https origin: another one is refused before anything reaches Ejento.
      const foreign = await browser.send('POST', '/auth/login', { json: DEMO, headers: { origin: 'https://evil.example' } })
      expect(foreign.status).toBe(403)
      expect(foreign.json).toMatchObject({ code: 'csrf_rejected' })

      const login = await browser.send('POST', '/auth/login', { json: DEMO })
      expect(login.status).toBe(200)
      expect(login.json).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
      const [line] = login.setCookie.filter((candidate) => candidate.startsWith('__Host-ejento_bff='))
      expect(line).toBeDefined()
      const attributes = cookieAttributes(line as string)
      expect([...attributes.keys()]).toEqual(expect.arrayContaining(['secure', 'httponly', 'samesite', 'path']))
      expect(attributes.get('samesite')).toBe('Lax')
      expect(attributes.get('path')).toBe('/')
      expect(attributes.has('domain')).toBe(false)
      // nginx made the request id (request-id.conf), and the BFF logged that the client came from its own address.
      expect(login.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/)
      expect(await deployment.clientAddressOf(login)).toBe('127.0.0.2')

      // Metrics stay on the internal side.
      expect((await browser.send('GET', '/metrics')).status).toBe(404)

      for (const { answer } of await onBoth(deployment, async () => await browser.send('GET', '/auth/session'))) {
        expect(answer.status).toBe(200)
        expect(answer.json).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
      }

      const oldCookie = browser.cookie as string
      const logout = await browser.send('POST', '/auth/logout')
      expect(logout.status).toBe(204)
      const [cleared] = logout.setCookie.filter((candidate) => candidate.startsWith('__Host-ejento_bff=;'))
      expect(cleared).toBeDefined()
      const clearing = cookieAttributes(cleared as string)
      expect([...clearing.keys()]).toEqual(expect.arrayContaining(['secure', 'httponly', 'samesite', 'path', 'expires']))
      expect(new Date(clearing.get('expires') as string).getTime()).toBeLessThan(Date.now())
      expect(browser.cookie).toBeUndefined()

      for (const { answer } of await onBoth(deployment, async () => await browser.send('POST', '/api/agents/1/chat-threads', { cookie: oldCookie }))) {
        expect(answer.status).toBe(401)
        expect(answer.headers['content-type']).toContain('application/problem+json')
        expect(answer.json).toMatchObject({ code: 'not_authenticated' })
      }
    })

    it('streams an answer event by event, and passes a body larger than nginx\'s buffer whole', async () => {
      const interval = 150
      const deployment = await deploy(await ejento({ streamIntervalMs: interval }))
      const browser = deployment.browser('127.0.0.2')
      expect((await browser.send('POST', '/auth/login', { json: DEMO })).status).toBe(200)
      const thread = await browser.send('POST', '/api/agents/1/chat-threads')
      expect(thread.status).toBe(201)

      const question = { user_query: 'Does this answer arrive word by word through nginx?', chat_thread_id: thread.json.data.id }
      const answer = await browser.stream('/api/agents/1/responses', question)
      expect(answer.status).toBe(200)
      expect(answer.headers['content-type']).toContain('text/event-stream')
      expect(answer.events[0]?.event).toBe('start')
      expect(answer.events.at(-1)?.event).toBe('end')
      const tokens = answer.events.filter(({ event }) => event === 'token')
      expect(tokens.length).toBeGreaterThanOrEqual(15)
      // Buffered, the events would arrive together at the end; streamed, they arrive as they are made.
      const first = tokens[0]?.at as number
      const end = answer.events.at(-1)?.at as number
      expect(end - first).toBeGreaterThan((tokens.length - 1) * interval / 2)
      expect(new Set(tokens.map(({ at }) => at)).size).toBeGreaterThan(tokens.length / 3)

      // Over client_body_buffer_size, nginx writes the body to its temporary folder first.
      const document = randomBytes(2 * 1024 * 1024)
      const upload = await browser.send('POST', '/proxy/ejento/api/agent/1/documents', { body: document, headers: { 'content-type': 'application/octet-stream' } })
      expect(upload.status).toBe(201)
      expect(upload.json.data).toMatchObject({ bytes: document.length, sha256: createHash('sha256').update(document).digest('hex') })
    })

    it('rate-limits log-ins per client address across both instances, whatever X-Forwarded-For a client sends (regression: the README\'s TRUST_PROXY=loopback let it choose its own bucket)', async () => {
      const deployment = await deploy(await ejento(), { env: { AUTH_RATE_LIMIT_PER_IP: '3' } })
      const guesser = deployment.browser('127.0.0.2')
      const other = deployment.browser('127.0.0.3')
      const wrong = { email: DEMO.email, password: 'not-the-password' }

      const served = new Set<number>()
      for (let attempt = 0; attempt < 3; attempt++) {
        const answer = await guesser.send('POST', '/auth/login', { json: wrong })
        expect(answer.status).toBe(401)
        served.add(await deployment.servedBy(answer))
      }
      const limited = await guesser.send('POST', '/auth/login', { json: DEMO })
      expect(limited.status).toBe(429)
      expect(limited.json).toMatchObject({ code: 'rate_limited' })
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
      served.add(await deployment.servedBy(limited))
      // The counter is shared: the attempts were spread over both instances.
      expect(served).toEqual(new Set([0, 1]))

      // Its own X-Forwarded-For (even the other client's address) does not give it another bucket:
      // nginx replaces it with the address it saw, and the BFF believes that header from nginx alone.
      for (const forwardedFor of ['203.0.113.7', '127.0.0.3', '127.0.0.9, 198.51.100.1']) {
        const spoofed = await guesser.send('POST', '/auth/login', { json: DEMO, headers: { 'x-forwarded-for': forwardedFor } })
        expect(spoofed.status).toBe(429)
        expect(await deployment.clientAddressOf(spoofed)).toBe('127.0.0.2')
      }

      const login = await other.send('POST', '/auth/login', { json: DEMO })
      expect(login.status).toBe(200)
      expect(await deployment.clientAddressOf(login)).toBe('127.0.0.3')

      // A client on nginx's own address, which the BFF trusts, cannot pick a bucket either.
      const local = await deployment.browser('127.0.0.1').send('POST', '/auth/login', { json: wrong, headers: { 'x-forwarded-for': '198.51.100.2' } })
      expect(local.status).toBe(401)
      expect(await deployment.clientAddressOf(local)).toBe('127.0.0.1')
    })

    it('answers an Ejento outage with 502 problem JSON; both instances stay up and serve again when it is back', async () => {
      const sim = await ejento()
      const api = await interruptibleHop(sim.apiUrl)
      const deployment = await deploy(sim, { apiUrl: api.url })
      const browser = deployment.browser('127.0.0.2')
      expect((await browser.send('POST', '/auth/login', { json: DEMO })).status).toBe(200)
      expect((await browser.send('POST', '/api/agents/1/chat-threads')).status).toBe(201)

      await api.stop()
      for (const { answer } of await onBoth(deployment, async () => await browser.send('POST', '/api/agents/1/chat-threads'))) {
        expect(answer.status).toBe(502)
        expect(answer.headers['content-type']).toContain('application/problem+json')
        expect(answer.json).toMatchObject({ status: 502, code: 'upstream_unavailable' })
      }
      for (const instance of deployment.instances) expect(await alive(instance)).toBe(true)

      await api.start()
      for (const { answer } of await onBoth(deployment, async () => await browser.send('POST', '/api/agents/1/chat-threads'))) {
        expect(answer.status).toBe(201)
      }
      for (const instance of deployment.instances) expect(instance.stderr()).toBe('')
    })
  })
})
