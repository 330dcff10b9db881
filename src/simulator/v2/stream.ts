import { sleep } from '../http.js'
import type { HandlerContext } from '../http.js'

/**
 * Hosted Ejento's answer stream: every event one `data: <JSON>` line switched on `.step` (no
 * `event:` names), ended by the connection closing. `steps` yields each event when it is due, so
 * the caller can store the answer before the `end` event names its id.
 */
export async function streamSteps (context: HandlerContext, intervalMs: number, steps: Iterable<Record<string, unknown>>): Promise<void> {
  const { res, record, injection } = context
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' })
  // Fault tests close the connection after this many events, as on the guide's stream.
  const dropAfter = injection?.dropStreamAfterEvents ?? Infinity
  const iterator = steps[Symbol.iterator]()
  for (let index = 0; ; index++) {
    if (index > 0) await sleep(intervalMs)
    if (res.destroyed) return
    if (record.events.length >= dropAfter) {
      res.socket?.destroy()
      return
    }
    // Taken only now: a step is made (and what it stores is stored) only when it is sent.
    const next = iterator.next()
    if (next.done === true) break
    res.write(`data: ${JSON.stringify(next.value)}\n\n`)
    record.events.push({ event: String(next.value.step), at: Date.now() })
  }
  res.end()
}
