import { request } from 'undici'
import type { Dispatcher } from 'undici'

export interface StreamTiming {
  /** From sending the request to the first event, ms. */
  firstEventMs: number
  /** For each token event, arrival time minus the upstream's send time (`t`), ms. */
  eventDelaysMs: number[]
  events: number
}

const now = (): number => performance.timeOrigin + performance.now()

/** Asks for one streamed answer and times it, event by event. */
export async function timeStream (url: string, headers: Record<string, string>, body: string, dispatcher?: Dispatcher): Promise<StreamTiming> {
  const started = now()
  const response = await request(url, {
    method: 'POST',
    headers: { accept: 'text/event-stream', 'content-type': 'application/json', ...headers },
    body,
    ...(dispatcher === undefined ? {} : { dispatcher })
  })
  if (response.statusCode !== 200) throw new Error(`stream answered ${response.statusCode}: ${await response.body.text()}`)
  let buffered = ''
  let firstEventMs = Number.NaN
  const eventDelaysMs: number[] = []
  let events = 0
  for await (const chunk of response.body) {
    const arrived = now()
    buffered += (chunk as Buffer).toString('utf8')
    let end: number
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const block = buffered.slice(0, end)
      buffered = buffered.slice(end + 2)
      events += 1
      if (Number.isNaN(firstEventMs)) firstEventMs = arrived - started
      const event = /^event: (.*)$/m.exec(block)?.[1]
      const data = /^data: (.*)$/m.exec(block)?.[1]
      if (event === 'token' && data !== undefined) eventDelaysMs.push(arrived - (JSON.parse(data) as { t: number }).t)
    }
  }
  return { firstEventMs, eventDelaysMs, events }
}

export function percentile (values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number
}
