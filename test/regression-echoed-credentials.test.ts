import { createServer } from 'node:net'
import type { Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { jsonEscaped, listenLocally } from './helpers/hostile-upstream.js'
import { waitFor } from './helpers/processes.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regressions (attack on issue 10): an Ejento API server that echoes the credentials of the
 * call in ways the body search did not see. Each answer is built from the Authorization and
 * Ocp-Apim-Subscription-Key headers the upstream received.
 */

const SUBSCRIPTION_KEY = 'echoed-subscription-key-0123456789'

interface Call { token: string, key: string }

function answer (status: string, headerLines: string[], body: string): string {
  return `HTTP/1.1 ${status}\r\n${[...headerLines, `content-length: ${Buffer.byteLength(body)}`].join('\r\n')}\r\n\r\n${body}`
}

/** Raw answers by the last path segment (the named route's `/api/agent/1/chat-thread` is `chat-thread`). */
const ANSWERS: Record<string, (call: Call) => string> = {
  // A redirect elsewhere that takes the token along, as a sign-in hand-off might.
  'redirect-away': ({ token }) => answer('302 Found', [`location: https://elsewhere.example/callback?token=${token}`], ''),
  'chat-thread': ({ token }) => answer('201 Created', ['content-type: application/json', `location: https://elsewhere.example/threads/1?auth=${encodeURIComponent(`Bearer ${token}`)}`], '{"success":true,"data":{"id":1}}'),
  download: ({ token, key }) => answer('200 OK', ['content-type: application/octet-stream', `etag: "${key}"`, `content-disposition: attachment; filename="${token}.bin"`], 'bytes'),
  // A JSON writer that escapes what it need not (`\/`, `\u00XX`): a reader gets the credentials back.
  escaped: ({ token, key }) => answer('200 OK', ['content-type: application/json'], `{"echo":"${jsonEscaped(token)}","gateway":"${jsonEscaped(key)}","note":"a\\/b"}`),
  'escaped-lines': ({ token }) => answer('200 OK', ['content-type: application/x-ndjson'], `{"n":1}\n{"echo":"${jsonEscaped(token)}"}\n`)
}

async function echoingApi (calls: Call[]): Promise<string> {
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {})
    let head = ''
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head.slice(0, end))?.[1] ?? 0)
      if (head.length < end + 4 + length) return
      const path = /^\S+ (\S+)/.exec(head)?.[1] ?? ''
      const call = { token: /\r\nauthorization: Bearer (\S+)/i.exec(head)?.[1] ?? '', key: /\r\nocp-apim-subscription-key: (\S+)/i.exec(head)?.[1] ?? '' }
      head = ''
      calls.push(call)
      const build = ANSWERS[path.split('/').pop() ?? '']
      socket.write(build === undefined ? answer('404 Not Found', [], '') : build(call))
    })
  })
  return await listenLocally(server, onCleanup)
}

async function echoingSetup (): Promise<{ server: RealServer, cookie: string, calls: Call[] }> {
  const sim = await startSimulator()
  onCleanup(sim.close)
  const calls: Call[] = []
  const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: await echoingApi(calls) }, { EJENTO_SUBSCRIPTION_KEY: SUBSCRIPTION_KEY })
  return { server, cookie: await realLogin(server.base), calls }
}

function expectNoCredential (text: string, calls: Call[]): void {
  expect(calls.length).toBeGreaterThan(0)
  for (const { token, key } of calls) {
    expect(token.length).toBeGreaterThan(20)
    expect(text).not.toContain(token)
    expect(key).toBe(SUBSCRIPTION_KEY)
    expect(text).not.toContain(key)
  }
}

describe('regression: credentials echoed in answer headers reached the browser', () => {
  it('a Location, ETag or file name holding the token or the gateway key is withheld, on the passthrough and a named route', async () => {
    const { server, cookie, calls } = await echoingSetup()
    const away = await fetch(`${server.base}/proxy/ejento/api/redirect-away`, { headers: { cookie }, redirect: 'manual', signal: AbortSignal.timeout(10_000) })
    const named = await fetch(`${server.base}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    const download = await fetch(`${server.base}/proxy/ejento/api/download`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })

    expect(away.status).toBe(302)
    expect(away.headers.get('location')).toBeNull()
    expect(named.status).toBe(201)
    expect(named.headers.get('location')).toBeNull()
    expect(await named.json()).toEqual({ success: true, data: { id: 1 } })
    expect(download.status).toBe(200)
    expect(download.headers.get('etag')).toBeNull()
    expect(download.headers.get('content-disposition')).toBeNull()
    expect(await download.text()).toBe('bytes')

    const answers = [away, named, download].map((response) => JSON.stringify([...response.headers])).join('\n')
    expectNoCredential(answers, calls)
    expect(await waitFor(() => server.logs().filter((line) => line.msg === 'answer headers holding a credential the call carried were withheld').length === 3, 5000)).toBe(true)
    expectNoCredential(server.stdout() + server.stderr(), calls)
    expect(await alive(server)).toBe(true)
  })
})

describe('regression: a JSON answer spelling the credentials with escapes passed the passthrough\'s search', () => {
  it('a document and a JSON line that decode to the token or the gateway key are cut like plain ones', async () => {
    const { server, cookie, calls } = await echoingSetup()
    const document = await fetch(`${server.base}/proxy/ejento/api/escaped`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })
    const lines = await fetch(`${server.base}/proxy/ejento/api/escaped-lines`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })

    expect(document.status).toBe(200)
    const decoded = await document.json() as Record<string, string>
    expect(decoded).toEqual({ echo: '[withheld]', gateway: '[withheld]', note: 'a/b' })
    expect(lines.status).toBe(200)
    const decodedLines = (await lines.text()).trim().split('\n').map((line) => JSON.parse(line) as unknown)
    expect(decodedLines).toEqual([{ n: 1 }, { echo: '[withheld]' }])

    expectNoCredential(JSON.stringify([decoded, decodedLines]), calls)
    expectNoCredential(server.stdout() + server.stderr(), calls)
    expect(await alive(server)).toBe(true)
  })
})
