import { createServer } from 'node:http'
import type { ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { onCleanup } from './app.js'

/** A collector that misbehaves: its base URL (as OTEL_EXPORTER_OTLP_ENDPOINT takes it) and how many exports it was sent. */
export interface HostileCollector {
  url: string
  exports: () => number
}

/** An OTLP/HTTP endpoint that answers every export with `answer` (or never, if `answer` does nothing). Closed after the test. */
export async function startHostileCollector (answer: (res: ServerResponse) => void): Promise<HostileCollector> {
  let exports = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      exports++
      answer(res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exports: () => exports }
}
