import type { IncomingHttpHeaders } from 'node:http'
import type { EventEmitter } from 'node:events'
import type { Readable } from 'node:stream'
import { Pool } from 'undici'
import type { Dispatcher } from 'undici'
import { problems } from '../errors.js'
import { tracing } from '../tracing/active.js'
import { decodedAnswer } from './content-encoding.js'
import { isAbort, upstreamFailure } from './errors.js'
import { gatewayRefusal } from './gateway-refusal.js'
import { discard, readUpTo } from './read-body.js'
import { withRepeatedFieldsJoined } from './repeated-headers.js'

export type UpstreamName = 'auth' | 'ejento'

export interface UpstreamClientOptions {
  baseUrl: URL
  subscriptionKey: string | undefined
  connectTimeoutMs: number
  headersTimeoutMs: number
  bodyTimeoutMs: number
  connections: number
  /** Told of every call's outcome (an HTTP status or a failure kind) and its time to answer headers. */
  observe?: (upstream: UpstreamName, outcome: number | string, seconds: number) => void
}

export interface UpstreamRequest {
  method: Dispatcher.HttpMethod
  /** Path and query relative to the base URL, already normalised and encoded. */
  path: string
  headers?: Record<string, string | string[] | undefined>
  body?: string | Buffer | Readable | null
  requestId?: string
  /** Aborts the call when it emits 'abort' (an AbortSignal or an EventEmitter). */
  signal?: AbortSignal | (EventEmitter & { aborted: boolean })
}

export interface PoolStats {
  connected: number
  running: number
  pending: number
}

export interface UpstreamResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  body: Readable
  /** The credentials the call carried (tokens, subscription key): they must not come back in the answer. */
  secrets?: readonly string[]
}

const MAX_JSON_BYTES = 8 * 1024 * 1024

/**
 * One upstream server: a keep-alive undici Pool, the gateway subscription key on every call,
 * and failures turned into 502/504 problems. TLS certificates are always verified.
 */
export class UpstreamClient {
  readonly name: UpstreamName
  readonly baseUrl: URL
  readonly #pool: Pool
  readonly #basePath: string
  readonly #subscriptionKey: string | undefined
  readonly #observe: UpstreamClientOptions['observe']
  readonly #readDeadlineMs: number

  constructor (name: UpstreamName, options: UpstreamClientOptions) {
    this.name = name
    this.baseUrl = options.baseUrl
    this.#basePath = options.baseUrl.pathname === '/' ? '' : options.baseUrl.pathname
    this.#subscriptionKey = options.subscriptionKey
    this.#observe = options.observe
    // A JSON answer is of no use until whole: it gets as long to arrive as its headers had (UPSTREAM_HEADERS_TIMEOUT).
    this.#readDeadlineMs = options.headersTimeoutMs
    this.#pool = new Pool(options.baseUrl.origin, {
      connections: options.connections,
      pipelining: 1,
      connect: { timeout: options.connectTimeoutMs, rejectUnauthorized: true },
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
      keepAliveTimeout: 30_000
    })
  }

  /** The gateway key this client sends, as a secret an answer must not echo. */
  get secrets (): readonly string[] {
    return this.#subscriptionKey === undefined ? [] : [this.#subscriptionKey]
  }

  get label (): string {
    return this.name === 'auth' ? 'authentication' : 'Ejento API'
  }

  /** The pool right now: open connections, calls under way, calls waiting for a connection. */
  get poolStats (): PoolStats {
    const { connected, running, pending } = this.#pool.stats
    return { connected, running, pending }
  }

  /** Sends one call; rejects with an `HttpProblem` (502/504) when no answer arrives. */
  async request (request: UpstreamRequest): Promise<UpstreamResponse> {
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      if (value !== undefined) headers[name] = value
    }
    if (this.#subscriptionKey !== undefined) headers['ocp-apim-subscription-key'] = this.#subscriptionKey
    if (request.requestId !== undefined) headers['x-request-id'] = request.requestId
    // Compressed answers could not be searched for tokens; one that comes anyway is decoded below.
    headers['accept-encoding'] = 'identity'
    // With tracing on: a client span for the call, and its traceparent in the headers.
    const span = tracing?.upstreamCall(this.name, request.method, this.baseUrl, this.#basePath + request.path, headers)
    const started = performance.now()
    let answer: Dispatcher.ResponseData
    try {
      answer = await this.#pool.request({
        method: request.method,
        path: this.#basePath + request.path,
        headers,
        body: request.body ?? null,
        signal: request.signal
      })
    } catch (error) {
      const failure = upstreamFailure(this.label, error)
      const outcome = failure.code !== 'upstream_timeout' && (isAbort(error) || request.signal?.aborted === true) ? 'aborted' : failure.code.replace('upstream_', '')
      this.#observe?.(this.name, outcome, (performance.now() - started) / 1000)
      span?.failed(outcome)
      span?.end()
      throw failure
    }
    this.#observe?.(this.name, answer.statusCode, (performance.now() - started) / 1000)
    if (span !== undefined) {
      span.answered(answer.statusCode)
      // The call lasts until its body is read or dropped (a stream: until it ends).
      answer.body.once('close', span.end)
    }
    const answerHeaders = withRepeatedFieldsJoined(answer.headers)
    if (answerHeaders === undefined) {
      discard(answer.body)
      throw problems.upstreamInvalidResponse(this.label, 'it has two different Content-Type headers')
    }
    return decodedAnswer(request.method, { statusCode: answer.statusCode, headers: answerHeaders, body: answer.body }, this.label)
  }

  /**
   * Sends one call and reads a JSON answer. A success that is not JSON is a 502
   * `upstream_invalid_response`; an error answer that is not JSON (a gateway's HTML page) reads as null.
   */
  async requestJson (request: UpstreamRequest): Promise<{ statusCode: number, headers: IncomingHttpHeaders, body: unknown }> {
    const response = await this.request({ ...request, headers: { accept: 'application/json', ...request.headers } })
    const required = response.statusCode >= 200 && response.statusCode < 300
    const body = await this.readJson(response, required)
    const refusal = gatewayRefusal(this.label, response.statusCode, body, response.headers)
    if (refusal !== undefined) throw refusal
    return { statusCode: response.statusCode, headers: response.headers, body }
  }

  async readJson (response: UpstreamResponse, required = true): Promise<unknown> {
    const text = (await this.readBytes(response)).toString('utf8')
    if (text === '') return null
    try {
      return JSON.parse(text)
    } catch {
      if (!required) return null
      throw problems.upstreamInvalidResponse(this.label, 'the answer is not JSON')
    }
  }

  /**
   * A whole answer read as it came, up to the size a JSON answer may have (else a 502), within
   * UPSTREAM_HEADERS_TIMEOUT of the start of the read (else a 504 `upstream_timeout`, the call
   * aborted): undici's body timeout only bounds the silence between two chunks, so an
   * upstream trickling a byte at a time would otherwise hold the request for ever.
   */
  async readBytes (response: UpstreamResponse): Promise<Buffer> {
    const deadline = setTimeout(() => { response.body.destroy(new ReadDeadlineError(this.#readDeadlineMs)) }, this.#readDeadlineMs)
    try {
      const declared = Number(response.headers['content-length'] ?? 0)
      if (declared > MAX_JSON_BYTES) {
        discard(response.body)
        throw problems.upstreamInvalidResponse(this.label, 'the answer is too large')
      }
      const { chunks, rest } = await readUpTo(response.body, MAX_JSON_BYTES)
      if (rest !== undefined) {
        discard(response.body)
        throw problems.upstreamInvalidResponse(this.label, 'the answer is too large')
      }
      return Buffer.concat(chunks)
    } catch (error) {
      throw upstreamFailure(this.label, error)
    } finally {
      clearTimeout(deadline)
    }
  }

  async close (): Promise<void> {
    await this.#pool.close()
  }

  async destroy (): Promise<void> {
    await this.#pool.destroy()
  }
}

/** A JSON answer that was not whole in time; named `TimeoutError`, as AbortSignal.timeout's, so upstreamFailure makes it a 504. */
class ReadDeadlineError extends Error {
  override name = 'TimeoutError'

  constructor (ms: number) {
    super(`the answer was not read whole within ${ms} ms`)
  }
}
