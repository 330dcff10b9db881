import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { beforeAll, describe, expect, it } from 'vitest'
import { ClientError, DEFAULT_MAX_EVENT_SIZE, createClient } from '../client/src/index.js'
import type { AskEvent } from '../client/src/index.js'
import { startSimulator } from '../src/simulator/index.js'
import { DEMO, onCleanup, onFileCleanup } from './helpers/app.js'
import { browser, collect, rejection } from './helpers/client-browser.js'
import { waitFor } from './helpers/processes.js'
import { GUIDE } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * A hostile or broken server (a BFF behind a misbehaving proxy, or a stand-in) answering an ask
 * with an event stream whose `data:` line never ends: the bytes it has written, and whether the
 * client closed the connection. Without a bound, the client's parser would buffer it until the
 * tab ran out of memory.
 */
async function endlessLineServer (): Promise<{ base: string, written: () => number, closed: () => boolean }> {
  let written = 0
  let closed = false
  const server = createServer((request, response) => {
    request.resume()
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    response.write('event: token\ndata: {"delta":"Hello"}\n\ndata: {"delta":"')
    const chunk = 'x'.repeat(64 * 1024)
    const more = (): void => {
      if (closed) return
      written += chunk.length
      // Written as fast as the client reads; never a line break.
      if (response.write(chunk)) setImmediate(more)
      else response.once('drain', more)
    }
    response.on('close', () => { closed = true })
    more()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, written: () => written, closed: () => closed }
}

describe('the client bounds an event of a stream', () => {
  it('an endless line stops the stream with ClientError stream_event_too_large after the events before it, and closes the connection', async () => {
    const hostile = await endlessLineServer()
    const client = createClient({ baseUrl: hostile.base })
    const events: AskEvent[] = []
    const failure = await rejection((async () => {
      for await (const event of client.ask(1, { user_query: 'Hello?' })) events.push(event)
    })())
    expect(failure).toBeInstanceOf(ClientError)
    expect(failure).toMatchObject({ name: 'ClientError', code: 'stream_event_too_large' })
    expect((failure as Error).message).toContain(String(DEFAULT_MAX_EVENT_SIZE))
    expect(events).toEqual([{ format: 'guide', type: 'token', data: { delta: 'Hello' } }])
    // The client let go of the connection: the server stops writing, past the limit but not far past it.
    expect(await waitFor(hostile.closed, 10_000)).toBe(true)
    expect(hostile.written()).toBeGreaterThan(DEFAULT_MAX_EVENT_SIZE)
    expect(hostile.written()).toBeLessThan(64 * DEFAULT_MAX_EVENT_SIZE)
  })

  it('the bound is maxEventSize, in characters', async () => {
    const hostile = await endlessLineServer()
    const maxEventSize = 100_000
    const failure = await rejection(collect(createClient({ baseUrl: hostile.base, maxEventSize }).ask(1, { user_query: 'Hello?' })))
    expect(failure).toMatchObject({ code: 'stream_event_too_large' })
    expect((failure as Error).message).toContain('100000 characters')
    expect(await waitFor(hostile.closed, 10_000)).toBe(true)
  })

  it('maxEventSize must be a positive integer: ClientError invalid_option at createClient', () => {
    for (const maxEventSize of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createClient({ maxEventSize }), String(maxEventSize)).toThrow(expect.objectContaining({ name: 'ClientError', code: 'invalid_option' }))
    }
  })
})

describe('maxEventSize against the compiled BFF', () => {
  let server: RealServer

  beforeAll(async () => {
    const sim = await startSimulator({ ...GUIDE.sim, streamIntervalMs: 5 })
    onFileCleanup(sim.close)
    server = await startRealServer(sim, { ...GUIDE.env, AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }, onFileCleanup)
  })

  it('a real answer streams whole under the default bound, and stops with stream_event_too_large under one smaller than its events', async () => {
    const roomy = browser(server).client
    await roomy.login(DEMO)
    const events = await collect(roomy.ask(1, { user_query: 'What is Ejento?', chat_thread_id: null }))
    expect(events.at(-1)?.type).toBe('end')
    // The end event carries the whole answer: well over 40 characters.
    const end = events.at(-1)
    expect(end?.type === 'end' ? JSON.stringify(end.data).length : 0).toBeGreaterThan(40)

    const tight = browser(server, { maxEventSize: 40 }).client
    await tight.login(DEMO)
    const failure = await rejection(collect(tight.ask(1, { user_query: 'What is Ejento?', chat_thread_id: null })))
    expect(failure).toMatchObject({ name: 'ClientError', code: 'stream_event_too_large' })
  })
})
