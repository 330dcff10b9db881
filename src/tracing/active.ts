import type { FastifyInstance } from 'fastify'

/**
 * The hot path's one view of tracing: `tracing` stays undefined unless tracing was started
 * (src/tracing/sdk.ts, imported only then), so with tracing off a call site costs one check
 * and no OpenTelemetry module is ever loaded.
 */

export type AttributeValue = string | number | boolean

/** A span a call site may add to; never given a token, a cookie or a raw path. */
export interface SpanHandle {
  set: (name: string, value: AttributeValue) => void
}

/** An upstream call's span: opened before the call, answered at its headers, ended when its body is done. */
export interface UpstreamSpan {
  answered: (statusCode: number) => void
  failed: (kind: string) => void
  end: () => void
}

/** How a streamed answer ended: the upstream finished it, the browser went away, or the upstream failed. */
export type StreamEnd = 'done' | 'client_gone' | 'upstream_failed'

/** A streamed answer's span: told of every chunk sent to the browser, ended once. */
export interface StreamSpan {
  sent: (chunk: Buffer) => void
  end: (how: StreamEnd) => void
}

export interface Tracing {
  /** Runs `run` in a child span of the active one, ended when it settles (an error status if it throws). */
  inSpan: <T>(name: string, run: (span: SpanHandle) => Promise<T>) => Promise<T>
  /**
   * A client span for one upstream call, named by the upstream and the path's template; writes
   * `traceparent` (and a trusted caller's `tracestate`) into `headers`, so the upstream joins the trace.
   */
  upstreamCall: (upstream: string, method: string, base: URL, path: string, headers: Record<string, string | string[]>) => UpstreamSpan
  stream: () => StreamSpan
  /** Names this process in spans (`service.instance.id`, and the instance that refreshed). */
  instanceId: string
  /** Registers @fastify/otel (route spans) and puts `trace_id`/`span_id` on the request's log lines: first, before any route. */
  plugin: (app: FastifyInstance) => Promise<void>
  /** Exports what is pending and stops: on shutdown, after the server closed. */
  shutdown: () => Promise<void>
}

/** Set once at start when tracing is on (an ES module live binding: importers see the change). */
export let tracing: Tracing | undefined

export function useTracing (started: Tracing | undefined): void {
  tracing = started
}
