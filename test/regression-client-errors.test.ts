import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { login, setup } from './helpers/app.js'

/** Sends raw bytes to the listening app and answers everything it writes back before closing. */
async function rawExchange (port: number, bytes: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { answer += chunk })
    socket.on('error', reject)
    socket.on('close', () => { resolve(answer) })
    socket.write(bytes)
  })
}

function parse (answer: string): { status: number, headers: Record<string, string>, body: Record<string, unknown> } {
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) as Record<string, unknown> }
}

/**
 * Regression (review finding): requests Node.js rejects before routing got Fastify's own JSON
 * (`{"error": ..., "statusCode": ...}`), with no `code`, no request id and no security headers.
 */
describe('requests rejected before routing', () => {
  it('answers oversized headers 431 headers_too_large as problem JSON with a request id', async () => {
    const context = await setup()
    await context.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = context.app.server.address() as AddressInfo
    const answer = parse(await rawExchange(port, `GET /healthz?x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`))
    expect(answer.status).toBe(431)
    expect(answer.headers['content-type']).toContain('application/problem+json')
    expect(answer.headers['x-content-type-options']).toBe('nosniff')
    expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(answer.body).toMatchObject({ status: 431, code: 'headers_too_large' })
    expect(context.logs.some((line) => line.includes(answer.headers['x-request-id'] as string) && line.includes('headers_too_large'))).toBe(true)
  })

  it('answers bytes that are not HTTP 400 bad_request as problem JSON', async () => {
    const context = await setup()
    await context.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = context.app.server.address() as AddressInfo
    const answer = parse(await rawExchange(port, 'GARBAGE\x01 / HTTP/9\r\n\r\n'))
    expect(answer.status).toBe(400)
    expect(answer.headers['content-type']).toContain('application/problem+json')
    expect(answer.body).toMatchObject({ status: 400, code: 'bad_request' })
    // The server is still up and answering.
    const health = await context.app.inject({ method: 'GET', url: '/healthz' })
    expect(health.statusCode).toBe(200)
  })

  it('never writes an error answer into a response in progress: garbage after a keep-alive request only closes the connection (review finding)', async () => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.inject({ upstream: 'api', path: '/api/agents', status: 200, chunks: ['first,', 'second,', 'third'], chunkIntervalMs: 300 })
    await context.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = context.app.server.address() as AddressInfo
    const received = await new Promise<string>((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' })
      let answer = ''
      let sentGarbage = false
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => {
        answer += chunk
        // The answer has begun streaming: now the same connection sends bytes that are not HTTP.
        if (!sentGarbage && answer.includes('first,')) {
          sentGarbage = true
          socket.write('GARBAGE\x01 / HTTP/9\r\n\r\n')
        }
      })
      socket.on('error', reject)
      socket.on('close', () => { resolve(answer) })
      socket.write(`GET /proxy/ejento/api/agents HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`)
    })
    expect(received.startsWith('HTTP/1.1 200')).toBe(true)
    expect(received).toContain('first,')
    // One status line only: no 400 landed inside the streamed body.
    expect(received.match(/HTTP\/1\.1 /g)).toHaveLength(1)
    expect(received).not.toContain('bad_request')
  })
})
