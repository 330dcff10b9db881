import type { FastifyInstance, FastifyBaseLogger } from 'fastify'
import { problemResponses } from '../responses.js'
import { loginMethodsSchema } from './schemas.js'

/** How long the upstream's feature flags are believed (per process). */
const FLAGS_TTL_MS = 60_000
/** A failed fetch is retried after this long: a blip must not hide password-less and SSO log-in for a whole minute. */
const FAILURE_TTL_MS = 10_000
/** The page waits for this at most; then it gets password log-in only. */
const FLAGS_CALL_LIMIT_MS = 5_000
/** Flag names `<provider>_sso`; a provider `GET /auth/sso/:provider` could not take is left out, not respelled. */
const SSO_FLAG = /^([a-z0-9][a-z0-9-]{0,31})_sso$/

export interface LoginMethods {
  profile: string
  password: true
  passwordless: boolean
  sso: string[]
  /** Demo mode only: the page may show the simulator's demo account. */
  demo?: true
}

export interface MethodsRouteOptions {
  demo: boolean
}

/**
 * Which log-in methods the page should offer. The guide's upstream has password log-in only;
 * hosted Ejento says in its feature flags (asked with the gateway key, no token: nobody is
 * logged in yet), read at most once a minute per process. When they cannot be read, the page
 * gets password log-in only: nothing is guessed.
 */
export default async function methodsRoute (app: FastifyInstance, options: MethodsRouteOptions): Promise<void> {
  const flags = new FlagsCache(app, app.log)

  app.get('/methods', {
    schema: {
      tags: ['session'],
      summary: 'The log-in methods this deployment offers',
      response: { 200: loginMethodsSchema, ...problemResponses(503) }
    }
  }, async (request): Promise<LoginMethods> => {
    const profile = app.upstreamPaths.name
    const demo = options.demo ? { demo: true as const } : {}
    if (app.upstreamPaths.auth.loginMethods === undefined) return { profile, password: true, passwordless: false, sso: [], ...demo }
    return { profile, password: true, ...await flags.read(request.id), ...demo }
  })
}

type Offered = Pick<LoginMethods, 'passwordless' | 'sso'>

const PASSWORD_ONLY: Offered = { passwordless: false, sso: [] }

/** The last answer and until when it holds; concurrent readers of an expired one share one fetch. */
class FlagsCache {
  readonly #app: FastifyInstance
  readonly #log: FastifyBaseLogger
  #value: Offered = PASSWORD_ONLY
  #validUntil = 0
  #fetching: Promise<Offered> | undefined
  /** Warned about the current run of failures already: one line per outage, not one per minute. */
  #warned = false

  constructor (app: FastifyInstance, log: FastifyBaseLogger) {
    this.#app = app
    this.#log = log
  }

  async read (requestId: string): Promise<Offered> {
    if (Date.now() < this.#validUntil) return this.#value
    this.#fetching ??= this.#fetch(requestId).finally(() => { this.#fetching = undefined })
    return await this.#fetching
  }

  async #fetch (requestId: string): Promise<Offered> {
    const client = this.#app.upstreams.auth
    let failure: Record<string, unknown> | undefined
    try {
      const answer = await client.requestJson({
        method: 'GET',
        path: this.#app.upstreamPaths.auth.loginMethods as string,
        requestId,
        signal: AbortSignal.timeout(FLAGS_CALL_LIMIT_MS)
      })
      const offered = answer.statusCode === 200 ? readFlags(answer.body) : null
      if (offered !== null) {
        this.#warned = false
        return this.#keep(offered, FLAGS_TTL_MS)
      }
      failure = { status: answer.statusCode }
    } catch (error) {
      failure = { code: (error as { code?: unknown }).code }
    }
    if (!this.#warned) this.#log.warn(failure, 'the log-in feature flags could not be read: offering password log-in only')
    this.#warned = true
    return this.#keep(PASSWORD_ONLY, FAILURE_TTL_MS)
  }

  #keep (offered: Offered, ttlMs: number): Offered {
    this.#value = offered
    this.#validUntil = Date.now() + ttlMs
    return offered
  }
}

/** `{success, data: {password_login, passwordless_login, google_sso, microsoft_sso, ...}}`; null when it is not that. */
function readFlags (body: unknown): Offered | null {
  const data = typeof body === 'object' && body !== null ? (body as { data?: unknown }).data : undefined
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null
  const sso: string[] = []
  for (const [name, on] of Object.entries(data)) {
    const provider = SSO_FLAG.exec(name)?.[1]
    if (provider !== undefined && on === true) sso.push(provider)
  }
  return { passwordless: (data as Record<string, unknown>).passwordless_login === true, sso }
}
