import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingHttpHeaders } from 'node:http'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { diag, DiagLogLevel, isSpanContextValid, ROOT_CONTEXT, trace } from '@opentelemetry/api'
import type { Context, Span, TextMapGetter, TextMapPropagator, TextMapSetter } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { SpanExporter } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Tracing } from './active.js'
import type { OtlpProtocol, TracingConfig } from './config.js'
import { ScrubbingSpanProcessor } from './scrub.js'
import { spanMaker } from './spans.js'
import { traceparentTrusted } from './trust.js'

/** What tracing needs to know of the server: the configuration's frontends, and where to log its own troubles. */
export interface TracingOptions {
  config: TracingConfig
  /** ALLOWED_ORIGINS and PUBLIC_URL's origin: the frontends whose `traceparent` is continued. */
  trustedOrigins: ReadonlySet<string>
  /** Told of the SDK's warnings and errors (a collector that refuses or cannot be reached). */
  log: (level: 'warn' | 'error', message: string) => void
}

const VERSION = ownVersion()

/** This server's version, from the nearest package.json above this module that is its own (dist/ may be built anywhere). */
function ownVersion (): string | undefined {
  for (let folder = new URL('./', import.meta.url); folder.pathname !== '/'; folder = new URL('../', folder)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', folder), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'ejento-bff') return pkg.version
    } catch {}
  }
  return undefined
}

/**
 * Starts the OpenTelemetry SDK for traces: only imported (dynamically, by start.ts) when
 * tracing is on. The SDK reads the standard variables itself (OTEL_EXPORTER_OTLP_HEADERS,
 * _TIMEOUT, _COMPRESSION, certificates; OTEL_BSP_*, OTEL_TRACES_SAMPLER(_ARG), span limits;
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES); the endpoint and protocol were checked by
 * the configuration. Propagation is W3C Trace Context only: baggage would carry what a
 * browser chose to Ejento.
 */
export async function startTracing (options: TracingOptions): Promise<Tracing> {
  diag.setLogger(diagLogger(options.log), DiagLogLevel.WARN)
  const instanceId = randomUUID()
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'ejento-bff', 'service.instance.id': instanceId, ...(VERSION === undefined ? {} : { 'service.version': VERSION }) }))
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults above.
    .merge(detectResources({ detectors: [envDetector] }))
  const provider = new NodeTracerProvider({
    resource,
    // The scrubber edits each span as it ends, before the batch processor hands it to the exporter.
    spanProcessors: [new ScrubbingSpanProcessor(), new BatchSpanProcessor(await exporter(options.config.protocol))]
  })
  const w3c = new W3CTraceContextPropagator()
  provider.register({ propagator: new FrontendTraceContextPropagator(w3c, options.trustedOrigins) })

  const instrumentation = new FastifyOtelInstrumentation({
    // One span per request, named by its route; no span per hook or handler.
    instrumentHooks: false,
    instrumentHandler: false,
    // An exception's message may quote the request (a JSON parser's error quotes the body).
    recordExceptions: false,
    requestHook: (span, request) => { describeRequest(span, request, w3c, options.trustedOrigins) }
  })
  const tracer = provider.getTracer('ejento-bff', VERSION)
  const spans = spanMaker(tracer, instanceId, async () => {
    await provider.shutdown()
  })

  return {
    ...spans,
    plugin: fp(async function tracingPlugin (app: FastifyInstance) {
      await app.register(instrumentation.plugin())
      // Right after the route span started: every later line of the request carries its trace.
      app.addHook('onRequest', async (request, reply) => {
        const span = request.opentelemetry().span
        if (span === null) return
        const { traceId, spanId } = span.spanContext()
        request.log = request.log.child({ trace_id: traceId, span_id: spanId })
        reply.log = request.log
      })
    }, { name: 'tracing' })
  }
}

async function exporter (protocol: OtlpProtocol): Promise<SpanExporter> {
  // Each reads its endpoint, headers, timeout and compression from the OTEL_EXPORTER_OTLP_* variables.
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter()
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter()
}

/** The route span: named by the route's template (never the raw path), its request id, and what became of a caller's trace. */
function describeRequest (span: Span, request: FastifyRequest, w3c: W3CTraceContextPropagator, trustedOrigins: ReadonlySet<string>): void {
  const route = request.routeOptions.url
  span.updateName(route === undefined ? request.method : `${request.method} ${route}`)
  span.setAttribute('ejento_bff.request_id', request.id)
  if (request.headers.traceparent === undefined) return
  const extracted = trace.getSpanContext(w3c.extract(ROOT_CONTEXT, request.headers, HEADER_GETTER))
  const remote = extracted !== undefined && isSpanContextValid(extracted) ? extracted : undefined
  if (traceparentTrusted(request.headers, trustedOrigins)) {
    // Continued only when it parsed: one the propagator refused (all-zero ids, version ff) started a new trace.
    span.setAttribute('ejento_bff.traceparent', remote === undefined ? 'invalid' : 'continued')
    return
  }
  // Another site's trace: a new one here, linked to it, never its child.
  span.setAttribute('ejento_bff.traceparent', remote === undefined ? 'invalid' : 'linked')
  if (remote !== undefined) span.addLink({ context: remote, attributes: { 'ejento_bff.link': 'untrusted_traceparent' } })
}

const HEADER_GETTER: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key]
}

/**
 * W3C Trace Context, extracted only from a trusted frontend's request (trust.ts); injected
 * into every upstream call.
 */
class FrontendTraceContextPropagator implements TextMapPropagator {
  readonly #w3c: W3CTraceContextPropagator
  readonly #trustedOrigins: ReadonlySet<string>

  constructor (w3c: W3CTraceContextPropagator, trustedOrigins: ReadonlySet<string>) {
    this.#w3c = w3c
    this.#trustedOrigins = trustedOrigins
  }

  inject (context: Context, carrier: unknown, setter: TextMapSetter): void {
    this.#w3c.inject(context, carrier, setter)
  }

  extract (context: Context, carrier: unknown, getter: TextMapGetter): Context {
    if (typeof carrier !== 'object' || carrier === null || !traceparentTrusted(carrier as IncomingHttpHeaders, this.#trustedOrigins)) return context
    return this.#w3c.extract(context, carrier, getter)
  }

  fields (): string[] {
    return this.#w3c.fields()
  }
}

/**
 * The SDK's own warnings as log lines. An export's failure comes as an exception the SDK
 * turned into JSON: only its name, code and message are kept, never its stack or `data` (the
 * collector's answer, which may echo the request's API key). URLs are cut out (an endpoint may
 * carry credentials). A collector that is down or refuses fails every export: the same line
 * again within REPEAT_WINDOW_MS is counted, not written, and the next one says how many there were.
 */
function diagLogger (log: TracingOptions['log']): Parameters<typeof diag.setLogger>[0] {
  const repeats = new Map<string, { at: number, more: number }>()
  const say = (level: 'warn' | 'error') => (message: string, ...args: unknown[]): void => {
    const details = args.map((arg) => arg instanceof Error ? failureText(arg) : typeof arg === 'string' ? arg : '').filter((text) => text !== '')
    const text = [failureText(message), ...details].join(' ').replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '[url]').slice(0, 500)
    const now = performance.now()
    const last = repeats.get(text)
    if (last !== undefined && now - last.at < REPEAT_WINDOW_MS) {
      last.more++
      return
    }
    if (repeats.size >= 100) repeats.clear()
    repeats.set(text, { at: now, more: 0 })
    log(level, last === undefined || last.more === 0 ? text : `${text} (and ${last.more} more like it in the last ${Math.round((now - last.at) / 1000)} s)`)
  }
  const quiet = (): void => {}
  return { error: say('error'), warn: say('warn'), info: quiet, debug: quiet, verbose: quiet }
}

const REPEAT_WINDOW_MS = 10_000

/** An exception (or the JSON the SDK's error handler made of one) as `name (code): message`; any other text as it is. */
function failureText (failure: unknown): string {
  let fields: unknown = failure
  if (typeof failure === 'string') {
    if (!failure.startsWith('{')) return failure
    try {
      fields = JSON.parse(failure)
    } catch {
      return failure
    }
  }
  if (typeof fields !== 'object' || fields === null) return String(failure)
  const { name, code, message } = fields as { name?: unknown, code?: unknown, message?: unknown }
  const label = typeof name === 'string' ? name : 'Error'
  return `${label}${typeof code === 'string' || typeof code === 'number' ? ` (${code})` : ''}: ${typeof message === 'string' ? message : ''}`
}
