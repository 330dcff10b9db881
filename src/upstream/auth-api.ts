import type { UpstreamClient } from './client.js'
import type { PathProfile } from './paths.js'

export interface JsonAnswer {
  statusCode: number
  body: unknown
}

/** The authentication server's calls that the BFF makes on its own behalf. */
export class AuthApi {
  readonly #client: UpstreamClient
  readonly #paths: PathProfile['auth']
  readonly #refreshCallLimitMs: number | undefined

  /** `refreshCallLimitMs` bounds a refresh call, so the refresh lock's waiters know how long one can last. */
  constructor (client: UpstreamClient, paths: PathProfile['auth'], options: { refreshCallLimitMs?: number } = {}) {
    this.#client = client
    this.#paths = paths
    this.#refreshCallLimitMs = options.refreshCallLimitMs
  }

  /** OAuth2 password form, as FastAPI's `OAuth2PasswordRequestForm` expects. */
  async login (email: string, password: string, requestId: string): Promise<JsonAnswer> {
    return await this.#client.requestJson({
      method: 'POST',
      path: this.#paths.login,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: email, password }).toString(),
      requestId
    })
  }

  /**
   * Trades the current auth-app token for a new pair; there is no separate refresh token.
   * The whole call (connecting, waiting, reading) ends within the call limit (then a 504): it is
   * far longer than a caller waits, because the upstream may have spent the old token already
   * and the answer is the only copy of the new one.
   */
  async refresh (authToken: string, requestId: string): Promise<JsonAnswer> {
    return await this.#client.requestJson({
      method: 'POST',
      path: this.#paths.refresh,
      headers: { authorization: `Bearer ${authToken}` },
      requestId,
      ...(this.#refreshCallLimitMs === undefined ? {} : { signal: AbortSignal.timeout(this.#refreshCallLimitMs) })
    })
  }
}
