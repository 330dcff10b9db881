/**
 * A minimal, fast stand-in for both Ejento upstreams, so that benchmarks measure the proxy,
 * not the upstream. Log-in and refresh answer JWT-shaped tokens valid for a day; chat threads
 * answer 201 at once; responses stream STREAM_EVENTS events STREAM_INTERVAL_MS apart, each
 * carrying the time it was sent (`t`, epoch ms with sub-ms precision) for delay measurements.
 * Prints one JSON line {"url": ...} when listening.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const events = Number(process.env.STREAM_EVENTS ?? 20)
const intervalMs = Number(process.env.STREAM_INTERVAL_MS ?? 10)
const now = (): number => performance.timeOrigin + performance.now()

let issued = 0
let refreshes = 0
let threadId = 0
const token = (typ: string): string => {
  const payload = { sub: 'bench-user', typ, jti: `t${++issued}`, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 86_400 }
  return `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${'s'.repeat(43)}`
}
const pair = (): string => JSON.stringify({ access_token: token('auth'), ejento_access_token: token('ejento'), token_type: 'bearer' })

const server = createServer((req, res) => {
  const url = req.url ?? '/'
  if (req.method === 'GET' && url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ refreshes }))
    return
  }
  if (!(req.headers.authorization?.startsWith('Bearer ') ?? false) && !url.startsWith('/api/login/')) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"success":false,"message":"Invalid or expired token"}')
    return
  }
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    if (url.startsWith('/api/login/access-token')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(pair())
    } else if (url.startsWith('/api/users/refresh-access-token')) {
      refreshes += 1
      res.writeHead(200, { 'content-type': 'application/json' }).end(pair())
    } else if (/^\/api\/agent\/\d+\/chat-threads?$/.test(url)) {
      const body = JSON.stringify({ success: true, message: 'Chat thread created successfully', data: { id: ++threadId, agent_id: 1, title: 'New chat', created_at: new Date().toISOString() } })
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
    } else if (/^\/api\/agent\/\d+\/response$/.test(url)) {
      stream(res)
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"success":false,"message":"Not found"}')
    }
  })
})

function stream (res: import('node:http').ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.write(`event: start\ndata: {"t":${now()}}\n\n`)
  let sent = 0
  const timer = setInterval(() => {
    if (res.destroyed) {
      clearInterval(timer)
      return
    }
    sent += 1
    if (sent > events) {
      clearInterval(timer)
      res.end(`event: end\ndata: {"t":${now()},"output":{"answer":"done"}}\n\n`)
      return
    }
    res.write(`event: token\ndata: {"t":${now()},"delta":"word "}\n\n`)
  }, intervalMs)
}

server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }))
})
