import { beforeAll, describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { onFileCleanup } from './helpers/app.js'
import { routeSpanOf, startOtlpReceiver, startTracedServer } from './helpers/otlp-receiver.js'
import type { OtlpReceiver, ReceivedSpan } from './helpers/otlp-receiver.js'
import { waitFor } from './helpers/processes.js'
import { GUIDE } from './helpers/profiles.js'
import { realLogin } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

describe('log lines join the trace: trace_id and span_id next to reqId', () => {
  let sim: Simulator
  let receiver: OtlpReceiver
  let server: RealServer

  beforeAll(async () => {
    sim = await startSimulator(GUIDE.sim)
    onFileCleanup(sim.close)
    receiver = await startOtlpReceiver(onFileCleanup)
    server = await startTracedServer(sim, receiver, {}, onFileCleanup)
  })

  it('every line a streamed question logs after its route span began carries that span\'s trace', async () => {
    const cookie = await realLogin(server.base)
    const thread = await fetch(`${server.base}/api/agents/1/chat-threads`, { method: 'POST', headers: { cookie } })
    const threadId = (await thread.json() as { data: { id: number } }).data.id
    // A refresh on the way logs lines of its own.
    sim.expireTokens('ejento')
    const answer = await fetch(`${server.base}/api/agents/1/responses`, {
      method: 'POST',
      headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json', 'x-request-id': 'logs-and-traces' },
      body: JSON.stringify({ user_query: 'Do my log lines name my trace?', chat_thread_id: threadId })
    })
    expect(answer.status).toBe(200)
    await answer.arrayBuffer()
    const route = routeSpanOf(await receiver.until((spans) => routeSpanOf(spans, 'logs-and-traces') !== undefined), 'logs-and-traces') as ReceivedSpan

    // The last line is written once the answer's last byte left: it may come a moment after the test read them.
    await waitFor(() => server.logs().some((line) => line.reqId === 'logs-and-traces' && line.msg === 'request completed'), 5000)
    const lines = server.logs().filter((line) => line.reqId === 'logs-and-traces')
    // The first line is written as the request arrives, before any span exists; the route span carries its reqId.
    expect(lines[0]?.msg).toBe('incoming request')
    expect(route.attributes['ejento_bff.request_id']).toBe('logs-and-traces')
    const later = lines.slice(1)
    expect(later.map((line) => line.msg)).toEqual(expect.arrayContaining(['upstream refused the token; refreshing and retrying once', 'token refresh refreshed', 'request completed']))
    for (const line of later) expect({ msg: line.msg, trace_id: line.trace_id, span_id: line.span_id }).toEqual({ msg: line.msg, trace_id: route.traceId, span_id: route.spanId })
  })
})
