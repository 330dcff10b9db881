import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { startOtlpReceiver } from './helpers/otlp-receiver.js'
import { startRealServer } from './helpers/real-server.js'

describe('the SDK\'s warnings while tracing starts reach the log (they were dropped: the log did not exist yet)', () => {
  it.each([
    ['a sampler name it does not know', { OTEL_TRACES_SAMPLER: 'parentbased_traceid_ratio' }, /^OTEL_TRACES_SAMPLER value "parentbased_traceid_ratio" invalid, defaulting to "parentbased_always_on"/],
    ['a ratio out of range', { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '10' }, /^OTEL_TRACES_SAMPLER_ARG=10 was given, but it is out of range \(\[0\.\.1\]\), defaulting to 1/]
  ])('%s: every request would be sampled, and the operator is told so', async (_label, env, warning) => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const receiver = await startOtlpReceiver()
    const server = await startRealServer(sim, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', ...env })
    const sdkLines = server.logs().filter((line) => line.tracing === 'sdk')
    expect(sdkLines.map((line) => String(line.msg))).toEqual(expect.arrayContaining([expect.stringMatching(warning)]))
    expect(sdkLines.every((line) => line.level === 50)).toBe(true)
  })
})
