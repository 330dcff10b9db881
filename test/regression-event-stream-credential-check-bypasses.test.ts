import { createServer } from 'node:http'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { beforeAll, describe, expect, it } from 'vitest'
import { login, onCleanup, setup } from './helpers/app.js'
import type { CleanupScope } from './helpers/app.js'
import { injectUnchecked } from './helpers/contract.js'
import { takeEvents } from './helpers/event-stream.js'
import { decoded, jsonEscaped, listenLocally, startBehindHostileApi } from './helpers/hostile-upstream.js'
import { PROFILES } from './helpers/profiles.js'
import { waitFor } from './helpers/processes.js'
import { alive } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (outside attack A13 on the F1 fix): ways around the event-stream credential check.
 * - A compressed event stream (`Content-Encoding: gzip` or `br`) went through compressed, so the
 *   line search saw no token; the browser decoded it and read the bearer token and gateway key.
 * - A stream starting with a UTF-8 byte order mark: its first line was not taken for a `data:`
 *   line (readers drop the mark), so a token spelled with `\u` escapes there passed.
 * - A JSON document spread over two `data:` lines: the second, not JSON alone, passed with a
 *   `\u`-escaped token that the reader's JSON.parse of the joined lines decoded.
 * - A named route answered `TEXT/EVENT-STREAM` (media types are case-insensitive) with 502.
 * - An upstream echoing the token in every event wrote one warning line per event to the logs.
 */

interface Call { token: string, key: string }

const FLOOD_EVENTS = 200

/** An Ejento API server answering every response call (by agent id) with a stream that echoes the call's credentials. */
async function hostileApi (calls: Call[], cleanup: CleanupScope): Promise<string> {
  const server = createServer((request, response) => {
    request.resume()
    const agent = /\/agents?\/([^/]+)\/responses?/.exec(request.url ?? '')?.[1] ?? ''
    const call = { token: (request.headers.authorization ?? '').replace(/^Bearer /, ''), key: String(request.headers['ocp-apim-subscription-key'] ?? '') }
    calls.push(call)
    const echo = `${call.token} ${call.key}`.trim()
    const events = `data: {"step":"assistant_stream","delta":"one ${echo}"}\n\ndata: {"step":"assistant_stream","delta":"two"}\n\n`
    response.setHeader('content-type', 'text/event-stream')
    if (agent === 'gzip' || agent === 'br') {
      response.setHeader('content-encoding', agent)
      response.end(agent === 'gzip' ? gzipSync(events) : brotliCompressSync(Buffer.from(events)))
    } else if (agent === 'bom') {
      response.end(`\uFEFFdata: {"step":"assistant_stream","delta":"${jsonEscaped(call.token)}"}\n\n`)
    } else if (agent === 'multiline') {
      response.end(`data: {"step":"assistant_stream",\ndata: "delta":"${jsonEscaped(call.token)}"}\n\n`)
    } else if (agent === 'upper') {
      response.setHeader('content-type', 'TEXT/EVENT-STREAM; charset=UTF-8')
      response.end(events)
    } else if (agent === 'flood') {
      response.end(Array.from({ length: FLOOD_EVENTS }, (_, index) => `data: {"step":"assistant_stream","delta":"${index} ${call.token}"}\n\n`).join(''))
    } else {
      response.statusCode = 404
      response.end()
    }
  })
  return await listenLocally(server, cleanup)
}

function expectNoCredential (text: string, calls: Call[]): void {
  expect(calls.length).toBeGreaterThan(0)
  for (const { token, key } of calls) {
    expect(token.length).toBeGreaterThan(20)
    expect(decoded(text)).not.toContain(token)
    if (key !== '') expect(decoded(text)).not.toContain(key)
  }
}

/** Each event's data, parsed, as a reader joins its `data:` lines (a leading byte order mark dropped). */
function dataOf (text: string): unknown[] {
  const { events, rest } = takeEvents(text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n'))
  expect(rest).toBe('')
  return events.map((event) => event.data)
}

const ASK = { user_query: 'Hi', chat_thread_id: 1 }
const STREAM_HEADERS = { accept: 'text/event-stream', 'content-type': 'application/json' }
const WITHHELD = '[withheld]'

function targets (agent: string): Array<[string, string]> {
  return [['named route', `/api/agents/${agent}/responses`], ['passthrough', `/proxy/ejento/api/agents/${agent}/responses`]]
}

/** What the compressed stream's two events read once decoded and cut. */
function compressedData (key: string): unknown[] {
  return [
    { step: 'assistant_stream', delta: `one ${WITHHELD}${key === '' ? '' : ` ${WITHHELD}`}` },
    { step: 'assistant_stream', delta: 'two' }
  ]
}

describe.each(PROFILES)('regression: event-stream credential check bypassed, on %s', (_name, profile) => {
  it('app.inject: compressed streams arrive decoded and cut, a BOM or a split document hides no escaped token, one warning per stream', async () => {
    const calls: Call[] = []
    const apiUrl = await hostileApi(calls, onCleanup)
    const context = await setup({ profile, env: { EJENTO_API_URL: apiUrl } })
    const cookie = await login(context)
    const ask = async (url: string): Promise<{ status: number, type: string, encoding: unknown, body: string }> => {
      // Unchecked: a stream starting with a byte order mark, or a withheld line in a split document, is not the documented shape.
      const response = await injectUnchecked(context.app, { method: 'POST', url, headers: { cookie, ...STREAM_HEADERS }, payload: ASK })
      return { status: response.statusCode, type: String(response.headers['content-type']), encoding: response.headers['content-encoding'], body: response.body }
    }
    for (const [, url] of [...targets('gzip'), ...targets('br')]) {
      const answer = await ask(url)
      expect(answer.status).toBe(200)
      // Decoded by the BFF: the browser is sent plain lines it could search, and no encoding header.
      expect(answer.encoding).toBeUndefined()
      expect(dataOf(answer.body)).toEqual(compressedData(calls.at(-1)?.key ?? ''))
      expectNoCredential(answer.body, calls)
    }
    for (const [, url] of [...targets('bom'), ...targets('multiline')]) {
      const answer = await ask(url)
      expect(answer.status).toBe(200)
      expect(answer.body).toContain(WITHHELD)
      expectNoCredential(answer.body, calls)
    }
    for (const [, url] of targets('upper')) {
      const answer = await ask(url)
      expect(answer.status).toBe(200)
      expect(answer.type.toLowerCase()).toMatch(/^text\/event-stream/)
      expectNoCredential(answer.body, calls)
    }
    const logsBefore = context.logs.length
    const flood = await ask('/api/agents/flood/responses')
    expect(dataOf(flood.body)).toHaveLength(FLOOD_EVENTS)
    expectNoCredential(flood.body, calls)
    const warnings = context.logs.slice(logsBefore).filter((line) => line.includes('credentials the call carried were cut out'))
    expect(warnings).toHaveLength(1)
    expectNoCredential(context.logs.join('\n'), calls)
  })

  describe('compiled server on a real socket', () => {
    const calls: Call[] = []
    let server: RealServer
    let cookie: string

    beforeAll(async () => {
      ({ server, cookie } = await startBehindHostileApi(profile, async (cleanup) => await hostileApi(calls, cleanup)))
    })

    async function ask (url: string): Promise<Response> {
      return await fetch(`${server.base}${url}`, { method: 'POST', headers: { cookie, ...STREAM_HEADERS }, body: JSON.stringify(ASK), signal: AbortSignal.timeout(15_000) })
    }

    it.each([...targets('gzip'), ...targets('br')])('%s: a compressed stream reaches the browser decoded, without the token or the key', async (_target, url) => {
      const response = await ask(url)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-encoding')).toBeNull()
      // fetch decodes a compressed body itself, as a browser does: this is what a page would read.
      const text = await response.text()
      expect(dataOf(text)).toEqual(compressedData(calls.at(-1)?.key ?? ''))
      expectNoCredential(text, calls)
      expect(await alive(server)).toBe(true)
    })

    it.each([...targets('bom'), ...targets('multiline')])('%s: an escaped token behind a byte order mark or in a split document does not pass', async (_target, url) => {
      const response = await ask(url)
      expect(response.status).toBe(200)
      const text = await response.text()
      expect(text).toContain(WITHHELD)
      expectNoCredential(text, calls)
    })

    it('named route: an upper-case TEXT/EVENT-STREAM answer streams (no 502)', async () => {
      const response = await ask('/api/agents/upper/responses')
      expect(response.status).toBe(200)
      expect(dataOf(await response.text())).toHaveLength(2)
    })

    it('a token echoed in every event: one warning line for the stream, no credential in the output', async () => {
      const response = await ask('/proxy/ejento/api/agents/flood/responses')
      expect(dataOf(await response.text())).toHaveLength(FLOOD_EVENTS)
      // This request's lines only (by its id): a warning of an earlier test may reach the output late.
      const requestId = response.headers.get('x-request-id') ?? ''
      expect(requestId).not.toBe('')
      const warnings = (): number => server.stdout().split('\n').filter((line) => line.includes(`"reqId":"${requestId}"`) && line.includes('credentials the call carried were cut out')).length
      await waitFor(() => warnings() > 0, 5000, 50)
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(warnings()).toBe(1)
      const output = server.stdout() + server.stderr()
      expectNoCredential(output, calls)
      expect(await alive(server)).toBe(true)
    })
  })
})
