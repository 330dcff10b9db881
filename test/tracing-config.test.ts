import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config/index.js'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { startOtlpReceiver } from './helpers/otlp-receiver.js'
import { spawnServer } from './helpers/processes.js'
import { REAL_SECRET, startRealServer } from './helpers/real-server.js'

const BASE = { EJENTO_AUTH_URL: 'https://auth.example', EJENTO_API_URL: 'https://api.example', SESSION_SECRET: 'a-session-secret-of-at-least-32-characters' }

describe('tracing is configured by the standard OTEL_* variables, read once at start', () => {
  it('off unless an endpoint is set; the general endpoint gets /v1/traces, the traces one is used as is; protobuf by default', () => {
    expect(loadConfig(BASE).tracing).toBeUndefined()
    expect(loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing).toEqual({ endpoint: 'http://collector:4318/v1/traces', protocol: 'http/protobuf', endpointVariable: 'OTEL_EXPORTER_OTLP_ENDPOINT' })
    expect(loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/otlp/traces', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).tracing)
      .toEqual({ endpoint: 'https://collector/otlp/traces', protocol: 'http/json', endpointVariable: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' })
    expect(loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined()
    expect(loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeUndefined()
  })

  it('what it cannot do is a start error naming the variable: grpc, another exporter, an endpoint that is not http(s), a disabled flag that is not a boolean', () => {
    const endpoint = { ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }
    expect(() => loadConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/^OTEL_EXPORTER_OTLP_PROTOCOL grpc is not bundled/)
    expect(() => loadConfig({ ...endpoint, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'thrift' })).toThrow(/^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be one of http\/protobuf, http\/json/)
    expect(() => loadConfig({ ...endpoint, OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(/^OTEL_TRACES_EXPORTER must be otlp or none/)
    expect(() => loadConfig({ ...endpoint, OTEL_SDK_DISABLED: 'ture' })).toThrow(/^OTEL_SDK_DISABLED must be true or false/)
    // Never echoed: an endpoint may carry credentials.
    expect(() => loadConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://user:endpoint-password@collector:4317' })).toThrow(/^OTEL_EXPORTER_OTLP_ENDPOINT must be an http:\/\/ or https:\/\/ URL[^@]*$/)
  })

  it('the SDK\'s variables are known (never warned about); a misspelling of one is', () => {
    const unknown = loadConfig({ ...BASE, OTEL_SERVICE_NAME: 'bff', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_EXPORTER_OTLP_HEADERS: 'k=v', OTEL_EXPORTER_OTLP_ENDPIONT: 'http://collector:4318' }).unknownVariables
    expect(unknown).toEqual([{ name: 'OTEL_EXPORTER_OTLP_ENDPIONT', closest: 'OTEL_EXPORTER_OTLP_ENDPOINT' }])
  })

  it('the compiled server says where spans go, without the endpoint\'s credentials or query, and never the export headers', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const receiver = await startOtlpReceiver()
    const url = new URL(receiver.url)
    const server = await startRealServer(sim, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://collector-user:endpoint-password@${url.host}/?key=query-value`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=header-api-key-value',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json'
    })
    const line = server.logs().find((entry) => entry.tracing === 'on')
    expect(line?.msg).toBe(`tracing: on, spans sent to http://${url.host}/v1/traces (http/json)`)
    await server.listening()
    expect(`${server.stdout()}${server.stderr()}`).not.toMatch(/endpoint-password|collector-user|query-value|header-api-key-value/)
  })

  it('grpc asked for: the server does not start, and says why in one line', async () => {
    const server = await spawnServer({ EJENTO_AUTH_URL: 'http://127.0.0.1:9', EJENTO_API_URL: 'http://127.0.0.1:9', SESSION_SECRET: REAL_SECRET, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })
    const exit = await server.exited
    expect(exit.code).toBe(1)
    expect(exit.stderr.trim()).toMatch(/^ejento-bff: configuration error: OTEL_EXPORTER_OTLP_PROTOCOL grpc is not bundled with this server: use http\/protobuf or http\/json[^\n]*$/)
  })
})
