import type { AddressInfo } from 'node:net'
import { Client } from 'undici'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { RecordedRequest } from '../src/simulator/index.js'
import type { StreamFormat } from '../src/proxy/send.js'
import { login, onCleanup, setup } from './helpers/app.js'
import type { TestContext } from './helpers/app.js'
import { kindOf, readEvents, takeEvents } from './helpers/event-stream.js'
import type { StreamEvent } from './helpers/event-stream.js'
import { within } from './helpers/processes.js'
import { PROFILES, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'

const QUESTION = 'How does a v2 answer travel through the BFF?'

/** The BFF's one addition to a stream, when the upstream fails mid-way, byte for byte, in the stream's format. */
const STREAM_FAILED: Record<StreamFormat, string> = {
  events: 'event: error\ndata: {"code":"upstream_stream_failed","message":"The upstream stream ended unexpectedly."}\n\n',
  steps: 'data: {"step":"error","message":"The upstream stream ended unexpectedly.","code":"upstream_stream_failed"}\n\n'
}

/** An event block as each format writes it: v2's one `data:` line of JSON with a step, the guide's named event. */
const BLOCK: Record<StreamFormat, RegExp> = {
  steps: /^data: \{"step":"[a-z_]+"[^\n]*\}$/,
  events: /^event: [a-z_]+\ndata: \{[^\n]*\}$/
}

/** The answer text, as the stream spells it out, and as its end event gives it whole. */
function spelled (events: StreamEvent[]): string {
  return events.filter((event) => ['assistant_stream', 'token'].includes(kindOf(event))).map((event) => (event.data as { delta: string }).delta).join('')
}

function endAnswer (events: StreamEvent[]): unknown {
  return (events.find((event) => kindOf(event) === 'end')?.data as { output?: { answer?: unknown } } | undefined)?.output?.answer
}

function streamedRecords (context: { sim: TestContext['sim'] }, profile: TestProfile): RecordedRequest[] {
  return context.sim.requestsTo('api', exactPath(profile.paths.api.responseStream('1'))).filter((record) => record.headers.accept === 'text/event-stream')
}

/** Every byte the client got is one of the upstream's events, in the profile's format, in the order it wrote them. */
function expectUpstreamEventsOnly (text: string, profile: TestProfile, record: RecordedRequest): StreamEvent[] {
  const { events, rest } = takeEvents(text)
  expect(rest).toBe('')
  expect(events.map((event) => `${event.block}\n\n`).join('')).toBe(text)
  for (const event of events) expect(event.block).toMatch(BLOCK[profile.paths.api.streamFormat])
  expect(events.map(kindOf)).toEqual(record.events.map((sent) => sent.event))
  return events
}

const ask = JSON.stringify({ user_query: QUESTION, chat_thread_id: null })

/** The two ways a browser can ask for a stream: the named route, and the passthrough to the profile's stream path (in a thread made first). */
interface Way {
  url: (profile: TestProfile) => string
  needsThread: boolean
}

const WAYS: ReadonlyArray<[string, Way]> = [
  ['the named route', { url: () => '/api/agents/1/responses', needsThread: false }],
  ['the passthrough', { url: (profile) => `/proxy/ejento${profile.paths.api.responseStream('1')}`, needsThread: true }]
]

/** The question's body: a new conversation, or a thread made through the BFF first (the passthrough sends the body as it is). */
async function question (way: Way, makeThread: () => Promise<unknown>): Promise<string> {
  if (!way.needsThread) return ask
  const thread = await makeThread() as { data: { id: unknown } }
  return JSON.stringify({ user_query: QUESTION, chat_thread_id: thread.data.id })
}

describe.each(PROFILES)('answer streams through the BFF on %s', (_name, profile) => {
  const format = profile.paths.api.streamFormat

  it('passes each event on as the upstream writes it, in order, and adds nothing', async () => {
    const context = await setup({ profile, sim: { streamIntervalMs: 80 } })
    const cookie = await login(context)
    await context.app.listen({ port: 0, host: '127.0.0.1' })
    const client = new Client(`http://127.0.0.1:${(context.app.server.address() as AddressInfo).port}`)
    onCleanup(async () => { await client.destroy() })

    const response = await client.request({ method: 'POST', path: '/api/agents/1/responses', headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' }, body: ask })
    expect(response.statusCode).toBe(200)
    expect(String(response.headers['content-type'])).toMatch(/^text\/event-stream/)
    expect(response.headers['cache-control']).toBe('no-cache')
    expect(response.headers['x-accel-buffering']).toBe('no')
    const { events: arrived, text } = await within(20_000, readEvents(response.body), 'the stream')

    const [record] = streamedRecords(context, profile)
    expect(record?.completed).toBe(true)
    const events = expectUpstreamEventsOnly(text, profile, record as RecordedRequest)
    expect(events.length).toBeGreaterThan(10)
    expect(text).not.toContain('upstream_stream_failed')
    expect(spelled(events)).toBe(endAnswer(events))
    expect(spelled(events)).toContain(QUESTION)

    // Each event reached the client while the upstream was still writing later ones: never held back.
    const sent = (record as RecordedRequest).events
    const lastSentAt = (sent.at(-1) as { at: number }).at
    expect((arrived[0] as StreamEvent).at + 400).toBeLessThanOrEqual(lastSentAt)
    for (const [index, event] of arrived.entries()) {
      expect(event.at).toBeGreaterThanOrEqual((sent[index] as { at: number }).at)
      const later = sent[index + 4]
      if (later !== undefined) expect(event.at, `event ${index} (${kindOf(event)})`).toBeLessThan(later.at)
    }
  })

  it.each(WAYS)(`ends a stream the upstream drops mid-way with the BFF's error in the stream's format (${format}), through %s, with inject`, async (_way, way) => {
    const context = await setup({ profile, sim: { streamIntervalMs: 1 } })
    const cookie = await login(context)
    const payload = await question(way, async () => (await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie }, payload: {} })).json())
    context.sim.inject({ upstream: 'api', path: exactPath(profile.paths.api.responseStream('1')), dropStreamAfterEvents: 3 })
    const response = await context.app.inject({ method: 'POST', url: way.url(profile), headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' }, payload })
    expect(response.statusCode).toBe(200)
    expectDroppedStream(response.body, streamedRecords(context, profile)[0])
  })

  it.each(WAYS)(`ends a stream the upstream drops mid-way with the BFF's error in the stream's format (${format}), through %s, on the compiled server`, async (_way, way) => {
    const sim = await startSimulator({ ...profile.sim, streamIntervalMs: 1 })
    onCleanup(sim.close)
    const server = await startRealServer(sim, profile.env)
    const cookie = await realLogin(server.base)
    const body = await question(way, async () => await (await fetch(`${server.base}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' })).json())
    sim.inject({ upstream: 'api', path: exactPath(profile.paths.api.responseStream('1')), dropStreamAfterEvents: 3 })
    const response = await fetch(`${server.base}${way.url(profile)}`, {
      method: 'POST',
      headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(10_000)
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expectDroppedStream(await response.text(), streamedRecords({ sim }, profile)[0])
    expect(await alive(server)).toBe(true)
    expect(server.logs().filter((line) => line.code === 'internal_error')).toEqual([])
    expect(server.stderr()).toBe('')
  })

  /** The upstream's three events as it wrote them, then the BFF's error line, then the end. */
  function expectDroppedStream (text: string, record: RecordedRequest | undefined): void {
    expect(record?.events).toHaveLength(3)
    expect(text.endsWith(STREAM_FAILED[format]), text).toBe(true)
    const upstreamPart = text.slice(0, text.length - STREAM_FAILED[format].length)
    expectUpstreamEventsOnly(upstreamPart, profile, record as RecordedRequest)
  }
})
