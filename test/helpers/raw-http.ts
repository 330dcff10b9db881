import { connect } from 'node:net'

export interface RawAnswer {
  statusCode: number
  headers: Record<string, string>
  body: string
}

/**
 * Sends one HTTP/1.1 request whose request target is written byte for byte as given (UTF-8),
 * with no URL normalisation (fetch and undici would encode, resolve or refuse it), and reads
 * the answer until the server closes the connection (`Connection: close`). The request is
 * written, not ended: a half-closed socket reads as a client that went away. An answer that
 * is not HTTP (the server dropped the connection) has status 0.
 */
export async function rawRequest (base: string, method: string, target: string, headers: Record<string, string> = {}, body = ''): Promise<RawAnswer> {
  const { hostname, port } = new URL(base)
  const head = [`${method} ${target} HTTP/1.1`, `host: ${hostname}:${port}`, 'connection: close', `content-length: ${Buffer.byteLength(body)}`]
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`)
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => { socket.write(`${head.join('\r\n')}\r\n\r\n${body}`) })
    const chunks: Buffer[] = []
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer to ${method} ${JSON.stringify(target)} in 10 s`))
    }, 10_000)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('close', () => {
      clearTimeout(deadline)
      resolve(Buffer.concat(chunks))
    })
    socket.on('error', () => { /* a reset ends the answer; 'close' follows */ })
  })
  return parseAnswer(bytes)
}

function parseAnswer (bytes: Buffer): RawAnswer {
  const headEnd = bytes.indexOf('\r\n\r\n')
  if (headEnd === -1) return { statusCode: 0, headers: {}, body: bytes.toString('latin1') }
  const [statusLine = '', ...headerLines] = bytes.subarray(0, headEnd).toString('latin1').split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const rest = bytes.subarray(headEnd + 4)
  const body = headers['transfer-encoding']?.toLowerCase() === 'chunked' ? dechunked(rest) : rest
  return { statusCode: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: body.toString('utf8') }
}

/** The body of a chunked answer (extensions and trailers ignored). */
function dechunked (bytes: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  while (at < bytes.length) {
    const lineEnd = bytes.indexOf('\r\n', at)
    if (lineEnd === -1) break
    const size = Number.parseInt(bytes.subarray(at, lineEnd).toString('latin1').split(';')[0] as string, 16)
    if (!(size > 0)) break
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
  return Buffer.concat(parts)
}
