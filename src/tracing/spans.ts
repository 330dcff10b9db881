import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Span, Tracer } from '@opentelemetry/api'
import type { SpanHandle, StreamEnd, StreamSpan, Tracing, UpstreamSpan } from './active.js'
import { EventCounter } from './event-counter.js'
import { pathTemplate } from './path-template.js'

/** The spans this server makes itself (its routes' spans are @fastify/otel's). */
export function spanMaker (tracer: Tracer, instanceId: string, shutdown: () => Promise<void>): Omit<Tracing, 'plugin'> {
  return {
    instanceId,
    shutdown,
    inSpan: async (name, run) => await tracer.startActiveSpan(name, async (span) => {
      try {
        return await run(handleOf(span))
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR })
        span.setAttribute('error.type', errorType(error))
        throw error
      } finally {
        span.end()
      }
    }),
    upstreamCall: (upstream, method, base, path, headers) => {
      const template = pathTemplate(path)
      const span = tracer.startSpan(`${upstream} ${method} ${template}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          'ejento_bff.upstream': upstream,
          'http.request.method': method,
          'url.template': template,
          'server.address': base.hostname,
          'server.port': Number(base.port === '' ? (base.protocol === 'https:' ? 443 : 80) : base.port)
        }
      })
      // Written last, over anything of the same name: the upstream joins this span, never a caller's context.
      propagation.inject(trace.setSpan(context.active(), span), headers)
      return upstreamSpan(span)
    },
    stream: () => streamSpan(tracer.startSpan('stream'))
  }
}

function handleOf (span: Span): SpanHandle {
  return { set: (name, value) => { span.setAttribute(name, value) } }
}

function upstreamSpan (span: Span): UpstreamSpan {
  let ended = false
  return {
    answered: (statusCode) => {
      span.setAttribute('http.response.status_code', statusCode)
      // As OpenTelemetry's HTTP client conventions say: any 4xx or 5xx answer is a failed call.
      if (statusCode >= 400) {
        span.setStatus({ code: SpanStatusCode.ERROR })
        span.setAttribute('error.type', String(statusCode))
      }
    },
    failed: (kind) => {
      span.setStatus({ code: SpanStatusCode.ERROR })
      span.setAttribute('error.type', kind)
    },
    end: () => {
      if (ended) return
      ended = true
      span.end()
    }
  }
}

function streamSpan (span: Span): StreamSpan {
  const started = performance.now()
  const counter = new EventCounter()
  let bytes = 0
  let firstEventMs: number | undefined
  let ended = false
  return {
    sent: (chunk) => {
      bytes += chunk.length
      if (counter.count(chunk) > 0 && firstEventMs === undefined) firstEventMs = performance.now() - started
    },
    end: (how: StreamEnd) => {
      if (ended) return
      ended = true
      span.setAttributes({
        'ejento_bff.stream.end': how,
        'ejento_bff.stream.events': counter.events,
        'ejento_bff.stream.bytes': bytes
      })
      if (firstEventMs !== undefined) span.setAttribute('ejento_bff.stream.first_event_ms', Math.round(firstEventMs * 1000) / 1000)
      if (how === 'upstream_failed') span.setStatus({ code: SpanStatusCode.ERROR })
      span.end()
    }
  }
}

/** A failure's class, never its message: a problem's stable code, a Node.js error code, or the error's name. */
function errorType (error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'error'
  const { code, name } = error as { code?: unknown, name?: unknown }
  if (typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code)) return code
  return typeof name === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(name) ? name : 'error'
}
