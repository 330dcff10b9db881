import { beforeAll, describe, expect, it } from 'vitest'
import type { CleanupScope } from './helpers/app.js'
import { takeEvents } from './helpers/event-stream.js'
import { agentOf, chunkOf, listenLocally, RAW_NOT_FOUND, rawUpstream, startBehindHostileApi } from './helpers/hostile-upstream.js'
import { PROFILES } from './helpers/profiles.js'
import { alive } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/** Per profile: one whole event, and the first half of the next one's data line. */
const WHOLE = {
  events: 'event: token\ndata: {"delta":"Half "}\n\n',
  steps: 'data: {"step":"assistant_stream","delta":"Half "}\n\n'
}
const HALF = {
  events: 'event: token\ndata: {"delta":"wa',
  steps: 'data: {"step":"assistant_stream","delta":"wa'
}
const REST = 'y"}\n\n'

/** What the upstream does, by agent id: write pieces (a pause between them), then reset or close. */
type Script = Array<string | 'reset' | 'close'>

/** An Ejento API server that answers each agent's stream as `scripts` says; anything else is a 404. */
async function scriptedApi (scripts: Record<string, Script>, cleanup: CleanupScope): Promise<string> {
  const server = rawUpstream((head, socket) => {
    const script = scripts[agentOf(head)]
    if (script === undefined) {
      socket.end(RAW_NOT_FOUND)
      return
    }
    socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n')
    let step = 0
    const next = (): void => {
      const piece = script[step++]
      if (piece === undefined) return
      if (piece === 'reset') socket.resetAndDestroy()
      else if (piece === 'close') socket.end('0\r\n\r\n')
      else {
        socket.write(chunkOf(piece))
        setTimeout(next, 60)
      }
    }
    next()
  })
  return await listenLocally(server, cleanup)
}

/**
 * Regression: an upstream stream cut in the middle of a line had that half line forwarded, and
 * the BFF then ended it (7b24ca0) to put its error event after it: the client got an event whose
 * data was half a JSON document. Ejento's own client parses every `data:` line as JSON and stops
 * at one that is not (so it never saw the BFF's error), and the README promises that whatever
 * the BFF adds to a v2 stream is a JSON `data:` line. An event stream's unfinished line is now
 * held back until its line end arrives (a client cannot use half a line anyway), and dropped when
 * the upstream fails first.
 */
describe.each(PROFILES)('regression: a stream cut in the middle of a line became an event that is not JSON, on %s', (_name, profile) => {
  const format = profile.paths.api.streamFormat
  let server: RealServer
  let cookie: string

  beforeAll(async () => {
    ({ server, cookie } = await startBehindHostileApi(profile, async (cleanup) => await scriptedApi({
      cut: [WHOLE[format] + HALF[format], 'reset'],
      split: [WHOLE[format] + HALF[format], REST, 'close'],
      unterminated: [WHOLE[format], HALF[format] + 'y"}', 'close']
    }, cleanup)))
  })

  async function ask (agent: string): Promise<string> {
    const response = await fetch(`${server.base}/api/agents/${agent}/responses`, {
      method: 'POST',
      headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ user_query: 'Hi', chat_thread_id: 1 }),
      signal: AbortSignal.timeout(10_000)
    })
    expect(response.status).toBe(200)
    return await response.text()
  }

  it('compiled server: cut mid-line, every event the client reads is JSON, the BFF\'s error last', async () => {
    const text = await ask('cut')
    const { events, rest } = takeEvents(text)
    expect(rest).toBe('')
    // Not one data line a JSON reader would choke on: the half line never left.
    for (const line of text.split('\n').filter((candidate) => candidate.startsWith('data:'))) {
      expect(() => JSON.parse(line.slice('data:'.length)), line).not.toThrow()
    }
    const withData = events.filter((event) => event.block.includes('data:'))
    expect(withData.map((event) => event.data)).toEqual([
      format === 'steps' ? { step: 'assistant_stream', delta: 'Half ' } : { delta: 'Half ' },
      format === 'steps'
        ? { step: 'error', message: 'The upstream stream ended unexpectedly.', code: 'upstream_stream_failed' }
        : { code: 'upstream_stream_failed', message: 'The upstream stream ended unexpectedly.' }
    ])
    expect(text.startsWith(WHOLE[format])).toBe(true)
    expect(await alive(server)).toBe(true)
  })

  it('compiled server: a line that arrives in two pieces arrives whole; a last line without its line end still arrives at the end', async () => {
    expect(await ask('split')).toBe(WHOLE[format] + HALF[format] + REST)
    expect(await ask('unterminated')).toBe(`${WHOLE[format]}${HALF[format]}y"}`)
  })
})
