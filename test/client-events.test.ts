import { describe, expect, it } from 'vitest'
import { askEvents } from '../client/src/index.js'
import type { AskEvent } from '../client/src/index.js'

/** An event-stream body that arrives in exactly these pieces. */
function body (...chunks: Array<string | Uint8Array>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  return new ReadableStream({
    start (controller) {
      for (const chunk of chunks) controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk)
      controller.close()
    }
  })
}

async function read (stream: ReadableStream<Uint8Array>): Promise<AskEvent[]> {
  const events: AskEvent[] = []
  for await (const event of askEvents(stream)) events.push(event)
  return events
}

const kinds = (events: AskEvent[]): string[] => events.map((event) => `${event.format}:${event.type}`)

describe('the client reads both stream formats with eventsource-parser', () => {
  it("types the guide's named events and v2's steps, and the BFF's error event in each format", async () => {
    const guide = await read(body(
      'event: start\ndata: {"chat_thread_id":7}\n\n',
      'event: token\ndata: {"delta":"Hel"}\n\n',
      'event: token\ndata: {"delta":"lo"}\n\n',
      'event: end\ndata: {"output":{"answer":"Hello","chat_thread_id":7}}\n\n',
      'event: error\ndata: {"code":"upstream_stream_failed","message":"The upstream stream ended unexpectedly."}\n\n'
    ))
    expect(kinds(guide)).toEqual(['guide:start', 'guide:token', 'guide:token', 'guide:end', 'guide:error'])
    expect(guide[4]?.data).toEqual({ code: 'upstream_stream_failed', message: 'The upstream stream ended unexpectedly.' })

    const v2 = await read(body(
      'data: {"step":"tools_stream","delta":"Searching"}\n\n',
      'data: {"step":"reflection_end","message":"Reflection complete"}\n\n',
      'data: {"step":"reflection_skip"}\n\n',
      'data: {"step":"searching_documents","message":"Searching"}\n\n',
      'data: {"step":"assistant_stream","delta":"Hi"}\n\n',
      'data: {"step":"end","success":true,"output":{"answer":"Hi","thread_id":3,"agent_response_id":9}}\n\n',
      'data: {"step":"error","message":"The upstream stream ended unexpectedly.","code":"upstream_stream_failed"}\n\n'
    ))
    expect(kinds(v2)).toEqual(['v2:tools_stream', 'v2:reflection_end', 'v2:reflection_skip', 'v2:status', 'v2:assistant_stream', 'v2:end', 'v2:error'])
    expect(v2[3]?.data).toEqual({ step: 'searching_documents', message: 'Searching' })
  })

  it('reads events split anywhere, across lines and inside a UTF-8 character, with LF, CRLF or CR', async () => {
    const text = 'event: token\r\ndata: {"delta":"caf\u00e9 "}\r\n\r\nevent: token\rdata: {"delta":"\u{1F600}"}\r\revent: token\ndata: {"delta":"!"}\n\n'
    const bytes = new TextEncoder().encode(text)
    // One byte at a time: every split there is, including inside é and the emoji.
    const events = await read(body(...[...bytes].map((byte) => Uint8Array.of(byte))))
    expect(events.map((event) => event.type === 'token' ? event.data.delta : event.type)).toEqual(['caf\u00e9 ', '\u{1F600}', '!'])
  })

  it('counts a last event the connection closed after without its blank line (v2 ends by closing), but not a line cut short', async () => {
    const whole = await read(body('data: {"step":"assistant_stream","delta":"a"}\n\ndata: {"step":"end","output":{"answer":"a","thread_id":1}}\n'))
    expect(kinds(whole)).toEqual(['v2:assistant_stream', 'v2:end'])
    const cut = await read(body('data: {"step":"assistant_stream","delta":"a"}\n\ndata: {"step":"end","output":{"ans'))
    expect(kinds(cut)).toEqual(['v2:assistant_stream'])
  })

  it('passes on what neither format knows, or what the document would refuse, as unknown', async () => {
    const events = await read(body(
      ': a comment\n\n',
      'event: ping\ndata: {}\n\n',
      'data: not json\n\n',
      'event: token\ndata: {"delta":42}\n\n',
      'event: end\ndata: {"output":{"references":[]}}\n\n',
      'data: {"step":"end","output":"done"}\n\n',
      'data: ["an array"]\n\n'
    ))
    expect(events).toEqual([
      { format: 'unknown', type: 'unknown', event: 'ping', data: {} },
      { format: 'unknown', type: 'unknown', event: 'message', data: 'not json' },
      { format: 'unknown', type: 'unknown', event: 'token', data: { delta: 42 } },
      { format: 'unknown', type: 'unknown', event: 'end', data: { output: { references: [] } } },
      { format: 'unknown', type: 'unknown', event: 'message', data: { step: 'end', output: 'done' } },
      { format: 'unknown', type: 'unknown', event: 'message', data: ['an array'] }
    ])
  })

  it('reads two JSON data lines that lack the blank line between them as two events', async () => {
    const events = await read(body('data: {"step":"assistant_stream","delta":"a"}\ndata: {"step":"assistant_stream","delta":"b"}\n\n'))
    expect(events.map((event) => event.type === 'assistant_stream' ? event.data.delta : event.type)).toEqual(['a', 'b'])
  })

  it('cancels the body when the reader leaves early', async () => {
    let cancelled = false
    const stream = new ReadableStream<Uint8Array>({
      start (controller) { controller.enqueue(new TextEncoder().encode('event: token\ndata: {"delta":"a"}\n\n')) },
      cancel () { cancelled = true }
    })
    const events = askEvents(stream)
    expect((await events.next()).value?.type).toBe('token')
    // What `break` in a for await loop calls.
    await events.return()
    expect(cancelled).toBe(true)
  })
})
