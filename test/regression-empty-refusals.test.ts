import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { onCleanup } from './helpers/app.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'

/** Writes `bytes` as they are and reads until the server closes the connection (10 s at most). */
async function exchange (base: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(base)
  return await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => { socket.write(bytes) })
    let answer = ''
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no end of answer in 10 s: ${answer}`))
    }, 10_000)
    socket.setEncoding('latin1').on('data', (chunk: string) => { answer += chunk })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(deadline)
      resolve(answer)
    })
  })
}

function problemOf (answer: string): { status: number, type: string | undefined, body: Record<string, unknown> } {
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
    type: /\r\ncontent-type: ([^\r]*)/i.exec(head)?.[1],
    body: JSON.parse(body) as Record<string, unknown>
  }
}

/**
 * Regression (hostile client against issue 10's compiled server): two refusals Node.js makes
 * itself, before Fastify, were answered with an empty body, not problem JSON: an `Expect` other
 * than 100-continue (417) and an HTTP/1.1 request without Host (400).
 */
describe('regression: refusals Node.js answered with an empty body', () => {
  it('an unknown Expect is 417 expectation_failed and a missing Host 400 bad_request, as problem JSON; nothing reaches Ejento', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const server = await startRealServer(sim)
    const cookie = await realLogin(server.base)
    const before = sim.requests.length

    const expectation = problemOf(await exchange(server.base, `POST /proxy/ejento/api/agents HTTP/1.1\r\nHost: bff\r\nCookie: ${cookie}\r\nExpect: 200-ok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`))
    expect(expectation.status).toBe(417)
    expect(expectation.type).toBe('application/problem+json; charset=utf-8')
    expect(expectation.body).toMatchObject({ status: 417, code: 'expectation_failed' })

    const hostless = problemOf(await exchange(server.base, `GET /auth/session HTTP/1.1\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`))
    expect(hostless.status).toBe(400)
    expect(hostless.type).toBe('application/problem+json; charset=utf-8')
    expect(hostless.body).toMatchObject({ status: 400, code: 'bad_request' })

    // HTTP/1.0 needs no Host, and 100-continue still works.
    expect(problemOf(await exchange(server.base, `GET /auth/session HTTP/1.0\r\nCookie: ${cookie}\r\n\r\n`)).body).toMatchObject({ authenticated: true })
    const continued = await exchange(server.base, `POST /proxy/ejento/api/agent/1/chat-thread HTTP/1.1\r\nHost: bff\r\nCookie: ${cookie}\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`)
    expect(continued).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /)
    expect(sim.requests.length).toBe(before + 1)
    expect(await alive(server)).toBe(true)
  })
})
