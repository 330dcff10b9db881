import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Injection, RecordedRequest } from './state.js'

/** Small helpers shared by the simulated servers: they stand in for FastAPI and Ejento, not for the BFF. */

export async function readBody (req: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new Error('body too large')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return
  const payload = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers })
  res.end(payload)
}

export function parseJsonObject (body: Buffer): Record<string, unknown> | null {
  if (body.length === 0) return {}
  try {
    const value: unknown = JSON.parse(body.toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}

export function bearerToken (req: IncomingMessage): string | undefined {
  const header = req.headers.authorization
  if (header === undefined) return undefined
  const match = /^Bearer\s+(\S+)$/i.exec(header)
  return match?.[1]
}

export const sleep = async (ms: number): Promise<void> => {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

export interface HandlerContext {
  req: IncomingMessage
  res: ServerResponse
  params: string[]
  body: Buffer
  url: URL
  /** The request as recorded, so a handler can note stream events on it. */
  record: RecordedRequest
  injection: Injection | undefined
}

export type Handler = (context: HandlerContext) => Promise<void> | void

export interface Route {
  method: string
  pattern: RegExp
  handler: Handler
  /** Reachable without the gateway's subscription key: a browser navigation, which cannot carry the header. */
  keyless?: boolean
}

/** The route tables of one server, one per Ejento the simulator can play. */
export type RouteTables = Record<'guide' | 'v2', Route[]>

export function route (method: string, pattern: RegExp, handler: Handler, options: { keyless?: boolean } = {}): Route {
  return options.keyless === true ? { method, pattern, handler, keyless: true } : { method, pattern, handler }
}

export function findRoute (routes: Route[], method: string, pathname: string): { route: Route, params: string[] } | undefined {
  for (const candidate of routes) {
    if (candidate.method !== method) continue
    const match = candidate.pattern.exec(pathname)
    if (match !== null) return { route: candidate, params: match.slice(1).map((part) => decodeURIComponent(part)) }
  }
  return undefined
}
