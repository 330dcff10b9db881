import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { onCleanup } from './app.js'
import type { CleanupScope } from './app.js'
import { waitFor } from './processes.js'
import { startRealServer } from './real-server.js'
import type { RealServer } from './real-server.js'

/** One span as an OTLP/HTTP JSON export carried it, its attributes flattened to plain values. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  name: string
  kind: number
  attributes: Record<string, unknown>
  links: Array<{ traceId: string, spanId: string, attributes: Record<string, unknown> }>
  status: { code?: number, message?: string }
  events: unknown[]
  resource: Record<string, unknown>
  scope: string
}

/** A local OTLP/HTTP receiver (what a collector listens with on 4318), JSON encoding only, on a free port. */
export interface OtlpReceiver {
  /** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it (the exporter appends /v1/traces). */
  url: string
  /** Every request it got: method, path, content type and the raw body. */
  requests: Array<{ method: string, path: string, contentType: string, body: Buffer }>
  spans: () => ReceivedSpan[]
  /** Every byte received, as text: what a secret must never be found in. */
  text: () => string
  /** Waits until `condition` holds for the spans received (or the time is up); answers them. */
  until: (condition: (spans: ReceivedSpan[]) => boolean, ms?: number) => Promise<ReceivedSpan[]>
  close: () => Promise<void>
}

interface OtlpValue { stringValue?: string, intValue?: string | number, doubleValue?: number, boolValue?: boolean, arrayValue?: { values?: OtlpValue[] } }
interface OtlpAttribute { key: string, value: OtlpValue }
interface OtlpExport {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpAttribute[] }
    scopeSpans?: Array<{
      scope?: { name?: string }
      spans?: Array<{ traceId: string, spanId: string, parentSpanId?: string, name: string, kind: number, attributes?: OtlpAttribute[], links?: Array<{ traceId: string, spanId: string, attributes?: OtlpAttribute[] }>, status?: { code?: number, message?: string }, events?: unknown[] }>
    }>
  }>
}

export async function startOtlpReceiver (cleanup: CleanupScope = onCleanup): Promise<OtlpReceiver> {
  const requests: OtlpReceiver['requests'] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', contentType: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const close = async (): Promise<void> => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  cleanup(close)

  const spans = (): ReceivedSpan[] => requests
    .filter((request) => request.method === 'POST' && request.path === '/v1/traces' && request.contentType.startsWith('application/json'))
    .flatMap((request) => spansOf(JSON.parse(request.body.toString('utf8')) as OtlpExport))
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    spans,
    text: () => requests.map((request) => request.body.toString('utf8')).join('\n'),
    until: async (condition, ms = 10_000) => {
      await waitFor(() => condition(spans()), ms, 50)
      return spans()
    },
    close
  }
}

function spansOf (body: OtlpExport): ReceivedSpan[] {
  return (body.resourceSpans ?? []).flatMap((resourceSpans) => {
    const resource = attributesOf(resourceSpans.resource?.attributes)
    return (resourceSpans.scopeSpans ?? []).flatMap((scopeSpans) => (scopeSpans.spans ?? []).map((span) => ({
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: span.parentSpanId === undefined || span.parentSpanId === '' ? undefined : span.parentSpanId,
      name: span.name,
      kind: span.kind,
      attributes: attributesOf(span.attributes),
      links: (span.links ?? []).map((link) => ({ traceId: link.traceId, spanId: link.spanId, attributes: attributesOf(link.attributes) })),
      status: span.status ?? {},
      events: span.events ?? [],
      resource,
      scope: scopeSpans.scope?.name ?? ''
    })))
  })
}

function attributesOf (attributes: OtlpAttribute[] | undefined): Record<string, unknown> {
  return Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, valueOf(value)]))
}

function valueOf (value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.doubleValue !== undefined) return value.doubleValue
  if (value.boolValue !== undefined) return value.boolValue
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(valueOf)
  return undefined
}

/** The spans of one trace, each with its children's names, for a readable assertion. */
export function childrenOf (spans: ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] {
  return spans.filter((span) => span.parentSpanId === parent.spanId && span.traceId === parent.traceId)
}

/**
 * The compiled server on a real socket, tracing to `receiver` in OTLP/HTTP JSON, its batches
 * sent every 50 ms (the test's `env` wins).
 */
export async function startTracedServer (upstreams: { authUrl: string, apiUrl: string }, receiver: OtlpReceiver, env: Record<string, string> = {}, cleanup?: CleanupScope): Promise<RealServer> {
  return await startRealServer(upstreams, {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    ...env
  }, cleanup)
}

/** The route span of the request that answered with `requestId` (its `X-Request-Id`). */
export function routeSpanOf (spans: ReceivedSpan[], requestId: string): ReceivedSpan | undefined {
  return spans.find((span) => span.attributes['ejento_bff.request_id'] === requestId)
}

/** Every span of `traceId`. */
export function traceOf (spans: ReceivedSpan[], traceId: string): ReceivedSpan[] {
  return spans.filter((span) => span.traceId === traceId)
}
