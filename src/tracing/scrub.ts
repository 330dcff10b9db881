import type { Context } from '@opentelemetry/api'
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base'

/**
 * The only attributes a span leaves the process with. Everything here is set by this server
 * from values it chose (templates, statuses, counts, outcomes); an instrumentation's raw URL
 * (`url.path`, `url.full`, `url.query`: they hold ids and query values), user agent, header
 * captures, and anything a future version adds are dropped.
 */
const KEPT = new Set([
  'http.request.method',
  'http.response.status_code',
  'http.route',
  'url.template',
  'server.address',
  'server.port',
  'error.type'
])
const OURS = 'ejento_bff.'
const NOT_FOUND_SPAN = 'notFoundHandler'

/**
 * The last line of defence for "nothing secret in a trace", run as each span ends (before any
 * exporter sees it): attributes outside the allowlist are deleted, events (an exception's
 * message may quote a request body) are dropped, and an error status keeps its code but not
 * its message (an error's message, for the same reason).
 */
export class ScrubbingSpanProcessor implements SpanProcessor {
  onStart (_span: Span, _parentContext: Context): void {}

  onEnding (span: Span): void {
    // @fastify/otel names the not-found handler's span after the whole plugin chain it sits in
    // (`notFoundHandler - fastify -> tracing -> ... -> static-app`): one readable name instead.
    if (span.name.startsWith(NOT_FOUND_SPAN)) span.updateName(NOT_FOUND_SPAN)
    const attributes = span.attributes as Record<string, unknown>
    for (const name of Object.keys(attributes)) {
      if (!KEPT.has(name) && !name.startsWith(OURS)) delete attributes[name]
    }
    span.events.length = 0
    if (span.status.message !== undefined) span.setStatus({ code: span.status.code })
  }

  onEnd (_span: ReadableSpan): void {}

  async forceFlush (): Promise<void> {}

  async shutdown (): Promise<void> {}
}
