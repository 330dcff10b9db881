import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Client } from 'undici'
import { describe, expect, it } from 'vitest'
import { login, onCleanup, setup } from './helpers/app.js'
import { waitFor, within } from './helpers/processes.js'
import type { TestContext } from './helpers/app.js'
import type { RecordedRequest } from '../src/simulator/index.js'

const QUERY = 'How do streamed answers travel through the proxy?'
const RESPONSE_PATH = /^\/api\/agent\/1\/response$/

interface Arrived {
  event: string
  data: unknown
  /** When the client had the whole event (Date.now(), same clock as the simulator's). */
  at: number
}

interface Live {
  client: Client
  cookie: string
  threadId: number
}

/** The BFF on a real port, a logged-in session and a chat thread with agent 1. */
async function live (context: TestContext): Promise<Live> {
  const cookie = await login(context)
  const thread = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie } })
  if (thread.statusCode !== 201) throw new Error(`chat thread: ${thread.statusCode} ${thread.body}`)
  await context.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = context.app.server.address() as AddressInfo
  const client = new Client(`http://127.0.0.1:${port}`)
  onCleanup(async () => { await client.destroy() })
  return { client, cookie, threadId: (thread.json() as { data: { id: number } }).data.id }
}

/** Reads server-sent events as they arrive, noting the arrival time of each; stops early when `stop` says so. */
async function readEvents (body: AsyncIterable<Buffer | string>, stop?: (events: Arrived[]) => boolean): Promise<Arrived[]> {
  const events: Arrived[] = []
  let buffer = ''
  for await (const chunk of body) {
    buffer += chunk.toString()
    let end = buffer.indexOf('\n\n')
    while (end !== -1) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      end = buffer.indexOf('\n\n')
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim()
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart())
      }
      if (data.length === 0 && event === 'message') continue
      const text = data.join('\n')
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch {}
      events.push({ event, data: parsed, at: Date.now() })
      if (stop?.(events) === true) return events
    }
  }
  expect(buffer.trim()).toBe('')
  return events
}

function streamRequest ({ cookie, threadId }: Live, path = '/api/agents/1/responses'): { method: 'POST', path: string, headers: Record<string, string>, body: string } {
  return {
    method: 'POST',
    path,
    headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' },
    body: JSON.stringify({ user_query: QUERY, chat_thread_id: threadId })
  }
}

function expectEventStreamHeaders (headers: IncomingHttpHeaders): void {
  expect(String(headers['content-type'])).toMatch(/^text\/event-stream/)
  expect(headers['cache-control']).toBe('no-cache')
  expect(headers['x-accel-buffering']).toBe('no')
  expect(headers['content-length']).toBeUndefined()
}

function deltas (events: Arrived[]): string {
  return events.filter((event) => event.event === 'token').map((event) => (event.data as { delta: string }).delta).join('')
}

function endAnswer (events: Arrived[]): string | undefined {
  const end = events.find((event) => event.event === 'end')
  return (end?.data as { output?: { answer?: string } } | undefined)?.output?.answer
}

/**
 * The client's arrival times against the simulator's send times: every event arrives while the
 * upstream is still producing later ones. A buffering proxy would deliver them all at the end.
 */
function expectProgressive (arrived: Arrived[], record: RecordedRequest): void {
  const sent = record.events
  expect(arrived.map((event) => event.event)).toEqual(sent.map((event) => event.event))
  expect(sent.length).toBeGreaterThan(10)
  const endSentAt = (sent.at(-1) as { at: number }).at
  const firstToken = arrived.findIndex((event) => event.event === 'token')
  expect(firstToken).toBeGreaterThan(-1)
  // The first token is in the client's hands long before the upstream even writes the end.
  expect((arrived[firstToken] as Arrived).at + 500).toBeLessThanOrEqual(endSentAt)
  for (const [index, event] of arrived.entries()) {
    // Never earlier than it was sent (same clock)...
    expect(event.at).toBeGreaterThanOrEqual((sent[index] as { at: number }).at)
    // ...and never more than a few events behind the upstream.
    const later = sent[index + 5]
    if (later !== undefined) expect(event.at, `event ${index} (${event.event})`).toBeLessThan(later.at)
  }
  // The arrivals are spread like the sends, not bunched at the end.
  const sentSpread = endSentAt - (sent[firstToken] as { at: number }).at
  const arrivedSpread = (arrived.at(-1) as Arrived).at - (arrived[firstToken] as Arrived).at
  expect(arrivedSpread).toBeGreaterThan(sentSpread * 0.5)
}

function streamedRecord (context: TestContext, path = RESPONSE_PATH): RecordedRequest[] {
  return context.sim.requestsTo('api', path).filter((record) => record.headers.accept === 'text/event-stream')
}

describe('streamed agent answers', () => {
  it('forwards each event as it is produced, with event-stream headers, and the deltas make the answer', async () => {
    const context = await setup()
    context.sim.configure({ streamIntervalMs: 100 })
    const session = await live(context)
    const response = await session.client.request(streamRequest(session))
    expect(response.statusCode).toBe(200)
    expectEventStreamHeaders(response.headers)
    const arrived = await within(15_000, readEvents(response.body), 'the stream')

    const records = streamedRecord(context)
    expect(records).toHaveLength(1)
    const record = records[0] as RecordedRequest
    expect(record.completed).toBe(true)
    expectProgressive(arrived, record)

    expect(arrived[0]?.event).toBe('start')
    expect(arrived.at(-1)?.event).toBe('end')
    const answer = endAnswer(arrived)
    expect(answer).toContain(QUERY)
    expect(deltas(arrived)).toBe(answer)
    // The JSON form of the same question gives the same answer.
    const json = await context.app.inject({
      method: 'POST',
      url: '/api/agents/1/responses',
      headers: { cookie: session.cookie },
      payload: { user_query: QUERY, chat_thread_id: session.threadId }
    })
    expect(json.json().data.answer).toBe(answer)
  })

  it('answers JSON when the browser does not ask for an event stream', async () => {
    const context = await setup()
    const session = await live(context)
    for (const headers of [{}, { accept: 'application/json' }]) {
      const response = await session.client.request({
        method: 'POST',
        path: '/api/agents/1/responses',
        headers: { cookie: session.cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ user_query: QUERY, chat_thread_id: session.threadId })
      })
      const text = await response.body.text()
      expect(response.statusCode, text).toBe(200)
      expect(String(response.headers['content-type'])).toMatch(/^application\/json/)
      const body = JSON.parse(text) as { success: boolean, data: { answer: string } }
      expect(body.success).toBe(true)
      expect(body.data.answer).toContain(QUERY)
    }
    const records = context.sim.requestsTo('api', RESPONSE_PATH)
    expect(records).toHaveLength(2)
    for (const record of records) {
      expect(record.headers.accept).not.toContain('text/event-stream')
      expect(record.events).toHaveLength(0)
    }
  })

  it('aborts the upstream call when the client goes away, and the upstream stops sending', async () => {
    const context = await setup()
    context.sim.configure({ streamIntervalMs: 100 })
    const session = await live(context)
    const controller = new AbortController()
    const response = await session.client.request({ ...streamRequest(session), signal: controller.signal })
    expect(response.statusCode).toBe(200)
    const arrived = await within(10_000, readEvents(response.body, (events) => events.length >= 2), 'the first two events')
    expect(arrived.map((event) => event.event)).toEqual(['start', 'token'])
    controller.abort()
    const abortedAt = Date.now()

    const record = streamedRecord(context)[0] as RecordedRequest
    // About a second, with room for a busy machine.
    expect(await waitFor(() => record.aborted, 2000)).toBe(true)
    expect(Date.now() - abortedAt).toBeLessThan(2000)
    const count = record.events.length
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(record.events.length).toBe(count)
    expect(record.events.map((event) => event.event)).not.toContain('end')
    expect(record.completed).toBe(false)

    // The BFF is fine and the session still works.
    const again = await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agents', headers: { cookie: session.cookie } })
    expect(again.statusCode).toBe(200)
  })

  it('ends the client stream cleanly with event: error when the upstream drops mid-stream', async () => {
    const context = await setup()
    const session = await live(context)
    context.sim.inject({ upstream: 'api', path: RESPONSE_PATH, dropStreamAfterEvents: 3 })
    const startedAt = Date.now()
    const response = await session.client.request(streamRequest(session))
    expect(response.statusCode).toBe(200)
    expectEventStreamHeaders(response.headers)
    const arrived = await within(5000, readEvents(response.body), 'the dropped stream')
    expect(Date.now() - startedAt).toBeLessThan(5000)

    expect(arrived.slice(0, 3).map((event) => event.event)).toEqual(['start', 'token', 'token'])
    const last = arrived.at(-1)
    expect(last?.event).toBe('error')
    expect(last?.data).toMatchObject({ code: 'upstream_stream_failed' })
    expect(arrived.map((event) => event.event)).not.toContain('end')
    expect(streamedRecord(context)[0]?.events).toHaveLength(3)
  })

  it('refreshes a refused token once before streaming, and the events still arrive', async () => {
    const context = await setup()
    const session = await live(context)
    context.sim.expireTokens('ejento')
    const response = await session.client.request(streamRequest(session))
    expect(response.statusCode).toBe(200)
    expectEventStreamHeaders(response.headers)
    const arrived = await within(15_000, readEvents(response.body), 'the stream')
    expect(context.sim.counter('refresh')).toBe(1)
    expect(arrived[0]?.event).toBe('start')
    expect(arrived.at(-1)?.event).toBe('end')
    expect(deltas(arrived)).toBe(endAnswer(arrived))
    const attempts = streamedRecord(context)
    expect(attempts).toHaveLength(2)
    expect(attempts[0]?.events).toHaveLength(0)
    expect(attempts[1]?.events.length).toBe(arrived.length)
  })

  it('streams progressively through the passthrough too', async () => {
    const context = await setup()
    context.sim.configure({ streamIntervalMs: 100 })
    const session = await live(context)
    const response = await session.client.request(streamRequest(session, '/proxy/ejento/api/agent/1/response'))
    expect(response.statusCode).toBe(200)
    expectEventStreamHeaders(response.headers)
    const arrived = await within(15_000, readEvents(response.body), 'the stream')
    const records = streamedRecord(context)
    expect(records).toHaveLength(1)
    const record = records[0] as RecordedRequest
    expect(record.body.toString('utf8')).toBe(JSON.stringify({ user_query: QUERY, chat_thread_id: session.threadId }))
    expectProgressive(arrived, record)
    expect(deltas(arrived)).toBe(endAnswer(arrived))
  })

  it('aborts the upstream call when a passthrough stream\'s client goes away', async () => {
    const context = await setup()
    context.sim.configure({ streamIntervalMs: 100 })
    const session = await live(context)
    const controller = new AbortController()
    const response = await session.client.request({ ...streamRequest(session, '/proxy/ejento/api/agent/1/response'), signal: controller.signal })
    await within(10_000, readEvents(response.body, (events) => events.length >= 2), 'the first two events')
    controller.abort()
    const record = streamedRecord(context)[0] as RecordedRequest
    expect(await waitFor(() => record.aborted, 2000)).toBe(true)
    const count = record.events.length
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(record.events.length).toBe(count)
    expect(record.events.map((event) => event.event)).not.toContain('end')
  })
})
