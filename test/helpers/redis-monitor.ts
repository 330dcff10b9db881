import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as connectTls } from 'node:tls'
import type { RedisOptions } from 'ioredis'

/** One command as MONITOR shows it: `source` is the client's address, or `lua` inside a script. */
export interface MonitoredCommand {
  command: string
  args: string[]
  source: string
}

export interface RedisMonitor {
  /** Resolves once Redis has answered MONITOR: every command after that is seen. */
  ready: Promise<void>
  close: () => void
}

/**
 * Redis MONITOR over a socket of its own (TLS when the options say so). ioredis's own monitor mode is not used because it
 * switches to "monitoring" in a promise callback after the `+OK`: when the first monitored
 * line arrives in the same TCP chunk as the `+OK`, ioredis throws "Command queue state
 * error" (it broke CI once). MONITOR's protocol is one simple-string line per command, so
 * reading it directly is short and has no such window.
 */
export function monitorRedis (target: string | RedisOptions, onCommand: (seen: MonitoredCommand) => void): RedisMonitor {
  const { host, port, username, password, tls } = typeof target === 'string' ? fromUrl(target) : target
  const address = { host: host ?? '127.0.0.1', port: port ?? 6379 }
  // TLS (a managed Redis) with the options' CA; plain TCP otherwise.
  const socket: Socket = tls === undefined ? connect(address) : connectTls({ ...address, ...tls })
  socket.setEncoding('latin1')
  const handshake = password === undefined || password === '' ? [] : [command('AUTH', ...(username === undefined || username === '' ? [] : [username]), password)]
  handshake.push(command('MONITOR'))
  // One +OK per handshake command; MONITOR's comes last, and every line after it is a command seen.
  let okToCome = handshake.length
  let buffered = ''
  let settle!: (error?: Error) => void
  const ready = new Promise<void>((resolve, reject) => {
    settle = (error) => { if (error === undefined) resolve(); else reject(error) }
  })
  socket.on('error', (error) => settle(error))
  socket.on(tls === undefined ? 'connect' : 'secureConnect', () => socket.write(handshake.join('')))
  socket.on('data', (chunk: string) => {
    buffered += chunk
    let end: number
    while ((end = buffered.indexOf('\r\n')) !== -1) {
      const line = buffered.slice(0, end)
      buffered = buffered.slice(end + 2)
      if (okToCome > 0) {
        if (line.startsWith('-')) settle(new Error(`Redis refused MONITOR: ${line.slice(1)}`))
        else if (line === '+OK' && --okToCome === 0) settle()
        continue
      }
      const seen = parseMonitorLine(line)
      if (seen !== undefined) onCommand(seen)
    }
  })
  return { ready, close: () => { socket.destroy() } }
}

function fromUrl (url: string): RedisOptions {
  const { hostname, port, username, password } = new URL(url)
  return { host: hostname || '127.0.0.1', port: Number(port || 6379), username: decodeURIComponent(username), password: decodeURIComponent(password) }
}

function command (...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`
}

/** Parses `+1700000000.123456 [0 127.0.0.1:5000] "hmget" "key" "f"` (or `[0 lua]`). */
export function parseMonitorLine (line: string): MonitoredCommand | undefined {
  const match = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line)
  if (match === null) return undefined
  const args = parseQuoted(match[2] as string)
  return { command: (args[0] ?? '').toLowerCase(), args, source: match[1] as string }
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '"': '"', '\\': '\\' }

/** Undoes Redis's sdscatrepr quoting: "..." with \n \r \t \a \b \" \\ and \xHH escapes. */
function parseQuoted (text: string): string[] {
  const args: string[] = []
  let index = 0
  while (index < text.length) {
    if (text[index] !== '"') { index++; continue }
    let value = ''
    index++
    while (index < text.length && text[index] !== '"') {
      if (text[index] === '\\') {
        const next = text[index + 1] as string
        if (next === 'x') {
          value += String.fromCharCode(Number.parseInt(text.slice(index + 2, index + 4), 16))
          index += 4
        } else {
          value += ESCAPES[next] ?? next
          index += 2
        }
      } else {
        value += text[index]
        index++
      }
    }
    args.push(value)
    index++
  }
  return args
}
