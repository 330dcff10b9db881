// Server-sent events from a fetch body (EventSource cannot POST).

/**
 * Yields `{event, data}` for each event as soon as its blank line arrives. The stream's last
 * event counts too when the connection closes without the blank line (v2 ends by closing).
 */
export async function * serverSentEvents (body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value.replace(/\r\n?/g, '\n')
      let end
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const parsed = parseEvent(buffer.slice(0, end))
        buffer = buffer.slice(end + 2)
        if (parsed !== undefined) yield parsed
      }
    }
    const last = parseEvent(buffer)
    if (last !== undefined) yield last
  } finally {
    // Stops the download when the reader leaves early (an error event, an abort).
    reader.cancel().catch(() => {})
  }
}

function parseEvent (block) {
  let event = 'message'
  const data = []
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') event = value
    else if (field === 'data') data.push(value)
  }
  return data.length === 0 ? undefined : { event, data }
}

/**
 * The JSON payloads of one event: its data lines joined, as the standard reads them; or, when
 * that is not JSON, each line on its own (a stream that forgot the blank line between two
 * `data: {...}` lines still shows both).
 */
export function payloadsOf (data) {
  const joined = parseJson(data.join('\n'))
  if (joined !== undefined || data.length === 1) return [joined]
  return data.map(parseJson)
}

export function parseJson (text) {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
