import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { findRoute, readBody, sendJson, sleep } from './http.js'
import type { Route, RouteTables } from './http.js'
import type { Injection, RecordedRequest, SimulatorState, UpstreamKind } from './state.js'

/**
 * The parts both simulated servers share: recording, the gateway key, injected faults, routing.
 * The route table is chosen per request from the `profile` setting, so `configure` can switch it.
 */
export function createUpstreamServer (kind: UpstreamKind, state: SimulatorState, routes: RouteTables, notFound: unknown): Server {
  const server = createServer((req, res) => {
    handle(kind, state, routes, notFound, req, res).catch((error: unknown) => {
      sendJson(res, 500, kind === 'auth' ? { detail: 'Internal Server Error' } : { success: false, message: String(error) })
    })
  })
  server.keepAliveTimeout = 65_000
  return server
}

async function handle (kind: UpstreamKind, state: SimulatorState, routes: RouteTables, notFound: unknown, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://simulator')
  const record: RecordedRequest = {
    upstream: kind,
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    path: url.pathname,
    headers: req.headers,
    body: Buffer.alloc(0),
    receivedAt: Date.now(),
    aborted: false,
    completed: false,
    events: []
  }
  state.record(record)
  res.on('close', () => {
    if (!res.writableFinished) record.aborted = true
  })
  res.on('finish', () => { record.completed = true })
  record.body = await readBody(req)

  const table = routes[state.settings.profile]
  const key = state.settings.subscriptionKey
  if (key !== undefined && !isKeyless(table, record.method, url.pathname) && req.headers['ocp-apim-subscription-key'] !== key) {
    state.count('subscription_key_rejected')
    sendJson(res, 401, { statusCode: 401, message: 'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.' })
    return
  }

  const injection = state.takeInjection(kind, record.method, url.pathname)
  if (injection !== undefined && await applyInjection(injection, req, res)) return

  const found = findRoute(table, record.method, url.pathname)
  if (found === undefined) {
    sendJson(res, 404, notFound)
    return
  }
  await found.route.handler({ req, res, params: found.params, body: record.body, url, record, injection })
}

function isKeyless (table: Route[], method: string, pathname: string): boolean {
  return table.some((candidate) => candidate.keyless === true && candidate.method === method && candidate.pattern.test(pathname))
}

/** True when the injection answered (or dropped) the request itself. */
async function applyInjection (injection: Injection, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (injection.delayMs !== undefined) await sleep(injection.delayMs)
  if (res.destroyed) return true
  switch (injection.mode) {
    case 'drop':
      req.socket.destroy()
      return true
    case 'hang':
      return true
    case 'garbage':
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('<html><body>502 Bad Gateway from some proxy</body></html>')
      return true
    case 'echo':
      sendJson(res, 200, { method: req.method, url: req.url, headers: req.headers })
      return true
  }
  if (injection.status !== undefined && injection.chunks !== undefined) {
    res.writeHead(injection.status, { 'content-type': 'text/plain', ...injection.headers })
    for (const chunk of injection.chunks) {
      if (res.destroyed) return true
      res.write(chunk)
      await sleep(injection.chunkIntervalMs ?? 0)
    }
    res.end()
    return true
  }
  if (injection.status !== undefined) {
    if (typeof injection.body === 'string' || Buffer.isBuffer(injection.body)) {
      res.writeHead(injection.status, { 'content-type': 'text/plain', ...injection.headers })
      res.end(injection.body)
    } else {
      sendJson(res, injection.status, injection.body ?? { detail: 'Injected failure' }, injection.headers)
    }
    return true
  }
  return false
}
