import { beforeAll, describe, expect, it } from 'vitest'
import type { StreamFormat } from '../src/proxy/send.js'
import type { CleanupScope } from './helpers/app.js'
import { takeEvents } from './helpers/event-stream.js'
import { chunkOf, listenLocally, RAW_NOT_FOUND, rawUpstream, startBehindHostileApi } from './helpers/hostile-upstream.js'
import { PROFILES } from './helpers/profiles.js'
import { alive } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

const STREAM_FAILED: Record<StreamFormat, string> = {
  events: 'event: error\ndata: {"code":"upstream_stream_failed","message":"The upstream stream ended unexpectedly."}\n\n',
  steps: 'data: {"step":"error","message":"The upstream stream ended unexpectedly.","code":"upstream_stream_failed"}\n\n'
}

/** One whole event, then the start of the next, in each format. */
const WHOLE: Record<StreamFormat, string> = {
  events: 'event: token\ndata: {"delta":"Half "}\n\n',
  steps: 'data: {"step":"assistant_stream","delta":"Half "}\n\n'
}
const CUT: Record<StreamFormat, string> = {
  events: 'event: token\ndata: {"delta":"wa',
  steps: 'data: {"step":"assistant_stream","delta":"wa'
}

/**
 * Where the upstream stops, and what the BFF must write before its error so that the error is an
 * event of its own. A half line is never sent (regression-stream-cut-line-not-json): after the
 * cut, the event it was in has only its whole lines (the guide's `event: token`, ended by a blank
 * line that dispatches nothing; v2's, none).
 */
const CUTS: ReadonlyArray<[string, (format: StreamFormat) => string, string | ((format: StreamFormat) => string)]> = [
  ['in the middle of a line', (format) => WHOLE[format] + CUT[format], (format) => format === 'events' ? '\n' : ''],
  ['after a line, before the blank line', (format) => `${WHOLE[format]}${CUT[format]}y "}\n`, '\n'],
  ['after a CR line end, before the blank line', (format) => `${WHOLE[format]}${CUT[format]}y "}\r`, '\n\n'],
  ['after a CRLF line end, before the blank line', (format) => `${WHOLE[format]}${CUT[format]}y "}\r\n`, '\n'],
  ['between two events (LF)', (format) => WHOLE[format], ''],
  ['between two events (CRLF)', (format) => WHOLE[format].replaceAll('\n', '\r\n'), ''],
  ['between two events (CR)', (format) => WHOLE[format].replaceAll('\n', '\r'), '']
]

/**
 * An Ejento API server whose answer stream stops where the test says, then resets the connection;
 * anything else is a 404.
 */
async function cuttingApi (cleanup: CleanupScope): Promise<{ url: string, stopAfter: (text: string) => void }> {
  let written = ''
  const server = rawUpstream((head, socket) => {
    const path = /^\S+ (\S+)/.exec(head)?.[1] ?? ''
    if (!/\/responses?(?:\/stream)?$/.test(path)) {
      socket.end(RAW_NOT_FOUND)
      return
    }
    socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${chunkOf(written)}`)
    setTimeout(() => socket.resetAndDestroy(), 50)
  })
  return { url: await listenLocally(server, cleanup), stopAfter: (text) => { written = text } }
}

// The BFF's error event was written straight after whatever the upstream had sent: when the
// upstream stopped in the middle of an event, the error was glued onto that event's last line, so
// the client read one broken event and never saw the error.
describe.each(PROFILES)('regression: a stream cut in the middle of an event on %s', (_name, profile) => {
  const format = profile.paths.api.streamFormat
  let server: RealServer
  let api: Awaited<ReturnType<typeof cuttingApi>>
  let cookie: string

  beforeAll(async () => {
    ({ server, cookie } = await startBehindHostileApi(profile, async (cleanup) => {
      api = await cuttingApi(cleanup)
      return api.url
    }))
  })

  it.each(CUTS)('stopped %s: the error is an event of its own, on the compiled server', async (_where, written, end) => {
    const upstream = written(format)
    api.stopAfter(upstream)
    const response = await fetch(`${server.base}/api/agents/1/responses`, {
      method: 'POST',
      headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ user_query: 'Hi', chat_thread_id: 1 }),
      signal: AbortSignal.timeout(10_000)
    })
    expect(response.status).toBe(200)
    const text = await response.text()
    const sent = upstream.slice(0, Math.max(upstream.lastIndexOf('\n'), upstream.lastIndexOf('\r')) + 1)
    expect(text).toBe(sent + (typeof end === 'string' ? end : end(format)) + STREAM_FAILED[format])
    // Read as a client splitting on blank lines (LF streams): the error is the last event, whole.
    if (!upstream.includes('\r')) {
      const { events, rest } = takeEvents(text)
      expect(rest).toBe('')
      expect(events.at(-1)?.data).toMatchObject({ code: 'upstream_stream_failed' })
      expect(`${events.at(-1)?.block ?? ''}\n\n`).toBe(STREAM_FAILED[format])
    }
    expect(await alive(server)).toBe(true)
  })
})
