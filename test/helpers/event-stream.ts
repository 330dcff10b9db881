/** One server-sent event as a client reads it, with the exact text of its block. */
export interface StreamEvent {
  /** The `event:` name, undefined when the block has none (v2's `data:` lines). */
  event: string | undefined
  /** The `data:` lines joined, parsed as JSON when they are JSON. */
  data: unknown
  /** The block as it came, without its blank-line terminator. */
  block: string
  /** When the client had the whole event (Date.now(), the simulator's clock too). */
  at: number
}

/** Cuts complete blocks off `buffer`; answers them and what is left over. */
export function takeEvents (buffer: string): { events: StreamEvent[], rest: string } {
  const events: StreamEvent[] = []
  let rest = buffer
  let end = rest.indexOf('\n\n')
  while (end !== -1) {
    const block = rest.slice(0, end)
    rest = rest.slice(end + 2)
    end = rest.indexOf('\n\n')
    let event: string | undefined
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim()
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart())
    }
    const text = data.join('\n')
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {}
    events.push({ event, data: parsed, block, at: Date.now() })
  }
  return { events, rest }
}

/** Reads a stream's events as they arrive; stops early when `stop` says so. Answers the events and the whole text read. */
export async function readEvents (body: AsyncIterable<Buffer | string>, stop?: (events: StreamEvent[]) => boolean): Promise<{ events: StreamEvent[], text: string }> {
  const events: StreamEvent[] = []
  let text = ''
  let buffer = ''
  for await (const chunk of body) {
    text += chunk.toString()
    buffer += chunk.toString()
    const taken = takeEvents(buffer)
    buffer = taken.rest
    events.push(...taken.events)
    if (stop?.(events) === true) break
  }
  return { events, text }
}

/** The step of a v2 event, or the name of a guide event. */
export function kindOf (event: StreamEvent): string {
  return event.event ?? String((event.data as { step?: unknown } | null)?.step)
}
