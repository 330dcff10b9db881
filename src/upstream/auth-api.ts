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
  readonly #refreshTimeoutMs: number | undefined

  /** `refreshTimeoutMs` bounds a refresh, so the refresh lock's waiters know how long one can last. */
  constructor (client: UpstreamClient, paths: PathProfile['auth'], options: { refreshTimeoutMs?: number } = {}) {
    this.#client = client
    this.#paths = paths
    this.#refreshTimeoutMs = options.refreshTimeoutMs
  }

  async signup (input: { email: string, password: string, full_name?: string | null }, requestId: string): Promise<JsonAnswer> {
    return await this.#client.requestJson({
      method: 'POST',
      path: this.#paths.signup,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
      requestId
    })
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
   * The whole call (connecting, waiting, reading) ends within the refresh timeout: a 504.
   */
  async refresh (authToken: string, requestId: string): Promise<JsonAnswer> {
    return await this.#client.requestJson({
      method: 'POST',
      path: this.#paths.refresh,
      headers: { authorization: `Bearer ${authToken}` },
      requestId,
      ...(this.#refreshTimeoutMs === undefined ? {} : { signal: AbortSignal.timeout(this.#refreshTimeoutMs) })
    })
  }
}
