import { EventEmitter } from 'node:events'
import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { HttpProblem, problems } from '../errors.js'
import type { TokenVault } from '../session/vault.js'
import type { TokenSet } from '../tokens/token-set.js'
import type { UpstreamClient, UpstreamName, UpstreamResponse } from '../upstream/client.js'
import { isAbort, upstreamFailure } from '../upstream/errors.js'
import { gatewayRefusal } from '../upstream/gateway-refusal.js'
import { discard, readUpTo } from '../upstream/read-body.js'
import type { ForwardBody } from './request-body.js'
import { browserLocation } from './headers.js'
import { isTokenFailure } from './token-failure.js'

export interface ForwardCall {
  upstream: UpstreamName
  method: Dispatcher.HttpMethod
  /** Path and query on the upstream, already checked. */
  path: string
  headers: Record<string, string>
  body: ForwardBody
}

const REFUSAL_BODY_LIMIT = 64 * 1024

/**
 * Sends a browser's call upstream with the session's token for that upstream: the Ejento
 * token to the Ejento API server, the auth-app token to the authentication server.
 * Refreshes first when the token is about to expire; when the upstream still refuses the
 * token, refreshes once and retries once (with the same body, when it was kept).
 * A browser that goes away aborts the upstream call.
 */
export class Forwarder {
  readonly #upstreams: Record<UpstreamName, UpstreamClient>
  readonly #vault: TokenVault

  constructor (upstreams: Record<UpstreamName, UpstreamClient>, vault: TokenVault) {
    this.#upstreams = upstreams
    this.#vault = vault
  }

  async call (request: FastifyRequest, reply: FastifyReply, call: ForwardCall): Promise<UpstreamResponse> {
    const session = request.session
    if (session === undefined) throw problems.notAuthenticated()
    const sessionId = session.id
    const client = this.#upstreams[call.upstream]
    const signal = abortWhenClientLeaves(reply)

    const send = async (tokens: TokenSet): Promise<UpstreamResponse> => {
      const token = call.upstream === 'ejento' ? tokens.ejentoToken : tokens.authToken
      try {
        return await client.request({
          method: call.method,
          path: call.path,
          headers: { ...call.headers, authorization: `Bearer ${token}` },
          body: bodyOf(call.body),
          requestId: request.id,
          signal
        })
      } catch (error) {
        if (signal.aborted || isAbort((error as { cause?: unknown }).cause) || isAbort(error)) throw clientClosed()
        throw error
      }
    }

    const tokens = await this.#vault.usable({ sessionId, tokens: session.record.tokens }, request.id, request.log)
    const response = await send(tokens)
    if (response.statusCode !== 401 && response.statusCode !== 403) return forBrowser(response, client, this.#upstreams, tokens)

    const refusal = await readSmall(response).catch((error: unknown) => { throw upstreamFailure(client.label, error) })
    const refused = { ...response, body: Readable.from([refusal]) }
    const reason = parseJson(refusal)
    const gatewaySaid = gatewayRefusal(client.label, response.statusCode, reason, response.headers)
    if (gatewaySaid !== undefined) throw gatewaySaid
    if (!isTokenFailure(response.statusCode, reason)) return forBrowser(refused, client, this.#upstreams, tokens)
    if (call.body.kind === 'streamed') {
      // The upload was streamed and is gone: it cannot be sent again. Refresh anyway, so that
      // the browser's own retry finds working tokens, and pass the refusal on.
      request.log.info({ upstream: call.upstream, status: response.statusCode }, 'upstream refused the token of a streamed upload; refreshing, not retrying')
      const fresh = await this.#vault.refresh({ sessionId, tokens }, request.id, request.log)
      return forBrowser(refused, client, this.#upstreams, fresh, tokens)
    }
    request.log.info({ upstream: call.upstream, status: response.statusCode }, 'upstream refused the token; refreshing and retrying once')
    const fresh = await this.#vault.refresh({ sessionId, tokens }, request.id, request.log)
    return forBrowser(await send(fresh), client, this.#upstreams, fresh, tokens)
  }
}

/** The answer with its redirect pointed at the passthrough, and the credentials it must not echo. */
function forBrowser (response: UpstreamResponse, client: UpstreamClient, upstreams: Record<UpstreamName, UpstreamClient>, ...used: TokenSet[]): UpstreamResponse {
  const secrets = [...client.secrets]
  for (const tokens of used) secrets.push(tokens.authToken, tokens.ejentoToken)
  const location = response.headers.location
  if (typeof location !== 'string') return { ...response, secrets }
  const headers = { ...response.headers }
  const rewritten = browserLocation(location, client.name, upstreams)
  if (rewritten === undefined) delete headers.location
  else headers.location = rewritten
  return { ...response, headers, secrets }
}

function bodyOf (body: ForwardBody): Buffer | Readable | null {
  switch (body.kind) {
    case 'none': return null
    case 'kept': return body.data
    case 'streamed': return body.stream
  }
}

/**
 * An abort signal for undici that fires when the browser goes away before its answer is done.
 * An EventEmitter rather than an AbortController: undici takes either, and an AbortController
 * (an EventTarget) costs several times more to create, on every proxied request.
 */
function abortWhenClientLeaves (reply: FastifyReply): ClientSignal {
  const signal = new EventEmitter() as ClientSignal
  signal.aborted = false
  reply.raw.once('close', () => {
    if (reply.raw.writableFinished) return
    signal.aborted = true
    signal.emit('abort')
  })
  return signal
}

type ClientSignal = EventEmitter & { aborted: boolean }

/** The refusal's body, cut at REFUSAL_BODY_LIMIT: enough to tell a dead token from a denial. */
async function readSmall (response: UpstreamResponse): Promise<Buffer> {
  const { chunks, rest } = await readUpTo(response.body, REFUSAL_BODY_LIMIT)
  if (rest !== undefined) discard(response.body)
  return Buffer.concat(chunks)
}

function parseJson (bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  }
}

/** The browser went away; nobody is left to answer (logged like nginx's 499). */
function clientClosed (): HttpProblem {
  return new HttpProblem(499, 'client_closed_request', 'The client closed the connection before the answer was ready.')
}
