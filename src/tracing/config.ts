import { parseBoolean } from '../config/parse.js'

/** The OTLP/HTTP encodings bundled: JSON, and protobuf (the OpenTelemetry default). gRPC is not. */
export type OtlpProtocol = 'http/json' | 'http/protobuf'

export interface TracingConfig {
  /** Where spans are sent, as a log line may show it: scheme, host, port and path, never credentials or a query. */
  endpoint: string
  protocol: OtlpProtocol
  /** The variable the endpoint came from (the traces-specific one wins). */
  endpointVariable: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' | 'OTEL_EXPORTER_OTLP_ENDPOINT'
}

/**
 * The standard variables the OpenTelemetry SDK reads for traces (it reads them itself; this
 * server only decides on/off, the endpoint and the protocol). Listed so that a misspelling of
 * one is warned about, and none of them is.
 */
export const OTEL_VARIABLES = [
  'OTEL_SDK_DISABLED', 'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES', 'OTEL_LOG_LEVEL', 'OTEL_PROPAGATORS',
  'OTEL_TRACES_EXPORTER', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_BSP_SCHEDULE_DELAY', 'OTEL_BSP_EXPORT_TIMEOUT', 'OTEL_BSP_MAX_QUEUE_SIZE', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
  'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT', 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT',
  'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_SPAN_EVENT_COUNT_LIMIT', 'OTEL_SPAN_LINK_COUNT_LIMIT',
  'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT', 'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT',
  ...['', 'TRACES_'].flatMap((signal) => ['ENDPOINT', 'PROTOCOL', 'HEADERS', 'TIMEOUT', 'COMPRESSION', 'CERTIFICATE', 'CLIENT_KEY', 'CLIENT_CERTIFICATE']
    .map((name) => `OTEL_EXPORTER_OTLP_${signal}${name}`))
] as const

const PROTOCOLS: readonly string[] = ['http/protobuf', 'http/json']

type Env = Record<string, string | undefined>

/**
 * Tracing's configuration, or undefined when it is off: off unless an OTLP endpoint is set, and
 * off whatever is set when OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is `none`.
 * `fail(variable, message)` throws the start error naming the variable. No message repeats a
 * value: an endpoint may carry credentials (user:key@host), and the headers variable API keys.
 */
export function readTracing (env: Env, fail: (variable: string, message: string) => never): TracingConfig | undefined {
  const value = (name: string): string | undefined => {
    const raw = env[name]?.trim()
    return raw === undefined || raw === '' ? undefined : raw
  }
  const disabled = value('OTEL_SDK_DISABLED')
  if (disabled !== undefined) {
    try {
      if (parseBoolean(disabled)) return undefined
    } catch (error) {
      fail('OTEL_SDK_DISABLED', (error as Error).message)
    }
  }
  const exporter = value('OTEL_TRACES_EXPORTER')?.toLowerCase()
  if (exporter === 'none') return undefined
  if (exporter !== undefined && exporter !== 'otlp') fail('OTEL_TRACES_EXPORTER', 'must be otlp or none: only the OTLP exporter is bundled')

  const specific = value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')
  const general = value('OTEL_EXPORTER_OTLP_ENDPOINT')
  const endpointVariable = specific !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT'
  const given = specific ?? general
  if (given === undefined) return undefined
  let url: URL
  try {
    url = new URL(given)
  } catch {
    return fail(endpointVariable, 'must be an http:// or https:// URL of an OTLP/HTTP receiver (a collector listens on port 4318)')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(endpointVariable, 'must be an http:// or https:// URL of an OTLP/HTTP receiver (a collector listens on port 4318)')

  const protocolVariable = value('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL'
  const protocol = value(protocolVariable)?.toLowerCase() ?? 'http/protobuf'
  if (protocol === 'grpc') fail(protocolVariable, 'grpc is not bundled with this server: use http/protobuf or http/json (an OpenTelemetry Collector takes both on port 4318)')
  if (!PROTOCOLS.includes(protocol)) fail(protocolVariable, `must be one of ${PROTOCOLS.join(', ')}`)

  // The SDK appends the signal's path to the general endpoint only, as the specification says.
  const path = specific !== undefined ? url.pathname : `${url.pathname.replace(/\/$/, '')}/v1/traces`
  return { endpoint: `${url.protocol}//${url.host}${path}`, protocol: protocol as OtlpProtocol, endpointVariable }
}
