import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Client } from 'undici'
import { describe, expect, it } from 'vitest'
import type { StreamFormat } from '../src/proxy/send.js'
import type { RecordedRequest } from '../src/simulator/index.js'
import { login, onCleanup, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { kindOf, readEvents, takeEvents } from './helpers/event-stream.js'
import type { StreamEvent } from './helpers/event-stream.js'
import { waitFor, within } from './helpers/processes.js'
import { PROFILES, exactPath } from './helpers/profiles.js'

const QUERY = 'How do streamed answers travel through the proxy?'

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

/** Reads the events as they arrive (noting when each came); nothing may be left over but a whole event. */
async function eventsOf (body: AsyncIterable<Buffer | string>, stop?: (events: StreamEvent[]) => boolean): Promise<StreamEvent[]> {
  const { events, text } = await readEvents(body, stop)
  if (stop === undefined) expect(takeEvents(text).rest.trim()).toBe('')
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

/** What the first event of an answer is, and which events spell its text, in each stream format. */
const FIRST: Record<StreamFormat, string> = { events: 'start', steps: 'tools_stream' }
const TEXT: Record<StreamFormat, string> = { events: 'token', steps: 'assistant_stream' }

/**
 * The client's arrival times against the simulator's send times: every event arrives while the
 * upstream is still producing later ones. A buffering proxy would deliver them all at the end.
 */
function expectProgressive (arrived: StreamEvent[], record: RecordedRequest, text: string): void {
  const sent = record.events
  expect(arrived.map(kindOf)).toEqual(sent.map((event) => event.event))
  expect(sent.length).toBeGreaterThan(10)
  const endSentAt = (sent.at(-1) as { at: number }).at
  const firstToken = arrived.findIndex((event) => kindOf(event) === text)
  expect(firstToken).toBeGreaterThan(-1)
  // The first token is in the client's hands long before the upstream even writes the end.
  expect((arrived[firstToken] as StreamEvent).at + 500).toBeLessThanOrEqual(endSentAt)
  for (const [index, event] of arrived.entries()) {
    // Never earlier than it was sent (same clock)...
    expect(event.at).toBeGreaterThanOrEqual((sent[index] as { at: number }).at)
    // ...and never more than a few events behind the upstream.
    const later = sent[index + 5]
    if (later !== undefined) expect(event.at, `event ${index} (${kindOf(event)})`).toBeLessThan(later.at)
  }
  // The arrivals are spread like the sends, not bunched at the end.
  const sentSpread = endSentAt - (sent[firstToken] as { at: number }).at
  const arrivedSpread = (arrived.at(-1) as StreamEvent).at - (arrived[firstToken] as StreamEvent).at
  expect(arrivedSpread).toBeGreaterThan(sentSpread * 0.5)
}

function endAnswer (events: StreamEvent[]): string | undefined {
  const end = events.find((event) => kindOf(event) === 'end')
  return (end?.data as { output?: { answer?: string } } | undefined)?.output?.answer
}

describe.each(PROFILES)('streamed agent answers on %s', (_name, profile) => {
  const format = profile.paths.api.streamFormat
  const STREAM_PATH = exactPath(profile.paths.api.responseStream('1'))
  const PASSTHROUGH_STREAM = `/proxy/ejento${profile.paths.api.responseStream('1')}`

  function deltas (events: StreamEvent[]): string {
    return events.filter((event) => kindOf(event) === TEXT[format]).map((event) => (event.data as { delta: string }).delta).join('')
  }

  function streamedRecord (context: TestContext): RecordedRequest[] {
    return context.sim.requestsTo('api', STREAM_PATH).filter((record) => record.headers.accept === 'text/event-stream')
  }

  it('forwards each event as it is produced, with event-stream headers, and the deltas make the answer', async () => {
    const context = await setup({ profile })
    context.sim.configure({ streamIntervalMs: 100 })
    const session = await live(context)
    const response = await session.client.request(streamRequest(session))
    expect(response.statusCode).toBe(200)
    expectEventStreamHeaders(response.headers)
    const arrived = await within(15_000, eventsOf(response.body), 'the stream')

    const records = streamedRecord(context)
    expect(records).toHaveLength(1)
    const record = records[0] as RecordedRequest
    expect(record.completed).toBe(true)
    expectProgressive(arrived, record, TEXT[format])

    expect(kindOf(arrived[0] as StreamEvent)).toBe(FIRST[format])
    expect(kindOf(arrived.at(-1) as StreamEvent)).toBe('end')
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
    const context = await setup({ profile })
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
    const records = context.sim.requestsTo('api', exactPath(profile.paths.api.response('1')))
    expect(records).toHaveLength(2)
    for (const record of records) {
      expect(record.headers.accept).not.toContain('text/event-stream')
      expect(record.events).toHaveLength(0)
    }
  })

  it('aborts the upstream call when the client goes away, and the upstream stops sending', async () => {
    const context = await setup({ profile })
    context.sim.configure({ streamIntervalMs: 100 })
    const session = await live(context)
    const controller = new AbortController()
    const response = await session.client.request({ ...streamRequest(session), signal: controller.signal })
    expect(response.statusCode).toBe(200)
    const arrived = await within(10_000, eventsOf(response.body, (events) => events.length >= 2), 'the first two events')
    expect(arrived).toHaveLength(2)
    expect(kindOf(arrived[0] as StreamEvent)).toBe(FIRST[format])
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
    const again = await context.app.inject({ method: 'GET', url: `/proxy/ejento${profile.agentsPath}`, headers: { cookie: session.cookie } })
    expect(again.statusCode).toBe(200)
  })

  it('ends the client stream cleanly with the BFF\'s error event, in the stream\'s format, when the upstream drops mid-stream', async () => {
    const context = await setup({ profile })
    const session = await live(context)
    context.sim.inject({ upstream: 'api', path: STREAM_PATH, dropStreamAfterEvents: 3 })
    const startedAt = Date.now()
    const response = await session.client.request(streamRequest(session))
    expect(response.statusCode).toBe(200)
    expectEventStreamHeaders(response.headers)
    const arrived = await within(5000, eventsOf(response.body), 'the dropped stream')
    expect(Date.now() - startedAt).toBeLessThan(5000)

    expect(arrived.slice(0, 3).map(kindOf)).toEqual(streamedRecord(context)[0]?.events.map((event) => event.event))
    const last = arrived.at(-1) as StreamEvent
    expect(kindOf(last)).toBe('error')
    expect(last.data).toMatchObject({ code: 'upstream_stream_failed' })
    expect(arrived.map(kindOf)).not.toContain('end')
    expect(streamedRecord(context)[0]?.events).toHaveLength(3)
  })

  it('refreshes a refused token once before streaming, and the events still arrive', async () => {
    const context = await setup({ profile })
    const session = await live(context)
    context.sim.expireTokens('ejento')
    const response = await session.client.request(streamRequest(session))
    expect(response.statusCode).toBe(200)
    expectEventStreamHeaders(response.headers)
    const arrived = await within(15_000, eventsOf(response.body), 'the stream')
    expect(context.sim.counter('refresh')).toBe(1)
    expect(kindOf(arrived[0] as StreamEvent)).toBe(FIRST[format])
    expect(kindOf(arrived.at(-1) as StreamEvent)).toBe('end')
    expect(deltas(arrived)).toBe(endAnswer(arrived))
    const attempts = streamedRecord(context)
    expect(attempts).toHaveLength(2)
    expect(attempts[0]?.events).toHaveLength(0)
    expect(attempts[1]?.events.length).toBe(arrived.length)
  })

  it('streams progressively through the passthrough too', async () => {
    const context = await setup({ profile })
    context.sim.configure({ streamIntervalMs: 100 })
    const session = await live(context)
    const response = await session.client.request(streamRequest(session, PASSTHROUGH_STREAM))
    expect(response.statusCode).toBe(200)
    expectEventStreamHeaders(response.headers)
    const arrived = await within(15_000, eventsOf(response.body), 'the stream')
    const records = streamedRecord(context)
    expect(records).toHaveLength(1)
    const record = records[0] as RecordedRequest
    expect(record.body.toString('utf8')).toBe(JSON.stringify({ user_query: QUERY, chat_thread_id: session.threadId }))
    expectProgressive(arrived, record, TEXT[format])
    expect(deltas(arrived)).toBe(endAnswer(arrived))
  })

  it('aborts the upstream call when a passthrough stream\'s client goes away', async () => {
    const context = await setup({ profile })
    context.sim.configure({ streamIntervalMs: 100 })
    const session = await live(context)
    const controller = new AbortController()
    const response = await session.client.request({ ...streamRequest(session, PASSTHROUGH_STREAM), signal: controller.signal })
    await within(10_000, eventsOf(response.body, (events) => events.length >= 2), 'the first two events')
    controller.abort()
    const record = streamedRecord(context)[0] as RecordedRequest
    expect(await waitFor(() => record.aborted, 2000)).toBe(true)
    const count = record.events.length
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(record.events.length).toBe(count)
    expect(record.events.map((event) => event.event)).not.toContain('end')
  })
})
