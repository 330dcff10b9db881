import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { signJwt, verifyJwt } from './jwt.js'

export type TokenKind = 'auth' | 'ejento'
export type TokenShape = 'flat' | 'envelope'
export type TokenFormat = 'jwt' | 'jwt-without-exp' | 'opaque'
export type UpstreamKind = 'auth' | 'api'

export interface SimulatorSettings {
  /** Which Ejento it plays: the API access guide's paths, or hosted Ejento's v2 API (envelopes, v2 streams, conversations, password-less and SSO log-in). */
  profile: 'guide' | 'v2'
  /** Lifetime of auth-app tokens, in seconds. */
  authTokenTtl: number
  /** Lifetime of Ejento tokens, in seconds. */
  ejentoTokenTtl: number
  tokenFormat: TokenFormat
  loginShape: TokenShape
  refreshShape: TokenShape
  /** A refresh revokes the auth-app token it was called with, so a second refresh with it fails. */
  strictRotation: boolean
  /** Delay before the refresh answers (after rotation), to widen race windows. */
  refreshDelayMs: number
  /** When set, every call must carry it as `Ocp-Apim-Subscription-Key`. */
  subscriptionKey: string | undefined
  /** Pause between streamed answer tokens. */
  streamIntervalMs: number
  /** The request record, the list of issued tokens and the outbox keep this many of the newest (a long-running demo stays bounded). */
  recordLimit: number
  /** v2: which log-in methods `GET /feature-flags/logins` announces (unset flags are true). */
  loginFlags: Partial<LoginFlags>
  /** v2: the user an SSO log-in comes back as (created on first use, as an IdP sign-up would). */
  ssoEmail: string
  /** v2: how long a password-less code stays valid. */
  otpTtlMs: number
}

export interface LoginFlags {
  password_login: boolean
  passwordless_login: boolean
  google_sso: boolean
  microsoft_sso: boolean
}

/** v2: a conversation, with its questions and answers (the guide's upstream keeps only agent and owner). */
export interface SimThread {
  id: number
  agentId: number
  userId: string
  title: string
  createdAt: string
  updatedAt: string
  responses: SimAgentResponse[]
}

export type VoteType = 'upvote' | 'downvote'

export interface SimAgentResponse {
  id: number
  threadId: number
  question: string
  answer: string
  references: Array<{ number: number, url: string, order: number }>
  followup_questions: string[]
  feedback: Array<{ id: number, vote_type: VoteType }>
}

/** v2: an e-mail the simulator "sent" (a password-less code, and a magic link when the caller named `next`). */
export interface SentMail {
  to: string
  code: string
  magicLink?: string
  sentAt: number
}

/** v2: a pending password-less log-in. */
export interface OtpSession {
  userId: string
  code: string
  expiresAt: number
  wrongTries: number
}

export interface SimUser {
  id: string
  email: string
  full_name: string | null
  is_active: boolean
  is_superuser: boolean
  passwordHash: string
}

export interface Agent {
  id: number
  name: string
  description: string
}

export interface RecordedRequest {
  upstream: UpstreamKind
  method: string
  /** Path and query exactly as received. */
  url: string
  path: string
  headers: IncomingHttpHeaders
  body: Buffer
  receivedAt: number
  /** The client went away before the answer was complete. */
  aborted: boolean
  completed: boolean
  /** For streamed answers: when each event was written. */
  events: Array<{ event: string, at: number }>
}

export interface Injection {
  upstream?: UpstreamKind
  method?: string
  path?: string | RegExp
  /** Answer with this status and body instead of the real handler (a string or Buffer is sent as it is, anything else as JSON). */
  status?: number
  body?: unknown
  /** Extra answer headers for an injected status answer. */
  headers?: Record<string, string>
  /** Wait before answering (or before the real handler runs). */
  delayMs?: number
  /**
   * garbage: 200 with a non-JSON body; drop: close the connection; hang: never answer;
   * echo: 200 JSON with the request's method, path and headers (a debug endpoint, as some gateways have).
   */
  mode?: 'garbage' | 'drop' | 'hang' | 'echo'
  /** With `status`: the body written in these pieces, `chunkIntervalMs` apart (a streamed answer of any type). */
  chunks?: string[]
  chunkIntervalMs?: number
  /** For a streamed answer: close the connection after this many events. */
  dropStreamAfterEvents?: number
  /** How many matching requests it applies to (default 1). */
  times?: number
}

export interface Claims {
  sub: string
  typ: TokenKind
  jti: string
  iatMs: number
  expMs: number
}

export const DEMO_USERS = [
  { email: 'demo@example.com', password: 'demo-password', full_name: 'Demo User', is_superuser: false },
  { email: 'admin@example.com', password: 'admin-password', full_name: 'Demo Admin', is_superuser: true }
]

const DEMO_AGENTS: Agent[] = [
  { id: 1, name: 'Demo Agent', description: 'Answers every question word by word.' },
  { id: 2, name: 'Support Agent', description: 'A second agent, to show agent selection.' }
]

export const DEFAULT_SETTINGS: SimulatorSettings = {
  profile: 'guide',
  authTokenTtl: 2 * 86_400,
  ejentoTokenTtl: 2 * 86_400,
  tokenFormat: 'jwt',
  loginShape: 'flat',
  refreshShape: 'envelope',
  strictRotation: true,
  refreshDelayMs: 0,
  subscriptionKey: undefined,
  streamIntervalMs: 20,
  recordLimit: 10_000,
  loginFlags: {},
  ssoEmail: 'demo@example.com',
  otpTtlMs: 10 * 60_000
}

export function hashPassword (password: string): string {
  return createHash('sha256').update(`ejento-sim:${password}`).digest('hex')
}

/** Everything both simulated servers share: users, tokens, threads, counters and the request record. */
export class SimulatorState {
  settings: SimulatorSettings
  readonly users = new Map<string, SimUser>()
  readonly agents = new Map<number, Agent>()
  readonly threads = new Map<number, SimThread>()
  /** v2: every agent response by id (each also listed on its thread). */
  readonly agentResponses = new Map<number, SimAgentResponse>()
  /** v2: pending password-less log-ins by otp_session_id. */
  readonly otpSessions = new Map<string, OtpSession>()
  /** v2: the e-mails sent, oldest first, so tests can read codes and magic links. */
  readonly outbox: SentMail[] = []
  /** Told of every mail sent (the demo prints them: nobody receives the simulator's e-mail). */
  onMail: ((mail: SentMail) => void) | undefined
  readonly requests: RecordedRequest[] = []
  readonly counters = new Map<string, number>()
  readonly injections: Injection[] = []
  /** Every token handed out, so tests can prove none of them leaks. */
  readonly issuedTokens: string[] = []
  /** Revoked token ids, with when the token would have expired anyway (then forgotten). */
  readonly #revoked = new Map<string, number>()
  readonly #opaque = new Map<string, Claims>()
  readonly #notBefore: Record<TokenKind, number> = { auth: 0, ejento: 0 }
  readonly #key = randomBytes(32)
  #nextThreadId = 1
  #nextResponseId = 1
  #nextFeedbackId = 1
  #changesSinceForget = 0

  constructor (settings: Partial<SimulatorSettings> = {}) {
    this.settings = { ...DEFAULT_SETTINGS, ...settings }
    for (const user of DEMO_USERS) this.addUser(user)
    for (const agent of DEMO_AGENTS) this.agents.set(agent.id, agent)
  }

  count (name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1)
  }

  counter (name: string): number {
    return this.counters.get(name) ?? 0
  }

  addUser (input: { email: string, password: string, full_name?: string | null, is_superuser?: boolean, is_active?: boolean }): SimUser {
    const user: SimUser = {
      id: randomUUID(),
      email: input.email.toLowerCase(),
      full_name: input.full_name ?? null,
      is_active: input.is_active ?? true,
      is_superuser: input.is_superuser ?? false,
      passwordHash: hashPassword(input.password)
    }
    this.users.set(user.id, user)
    return user
  }

  userByEmail (email: string): SimUser | undefined {
    const wanted = email.toLowerCase()
    for (const user of this.users.values()) if (user.email === wanted) return user
    return undefined
  }

  newThread (agentId: number, userId: string, title = 'New chat'): number {
    const id = this.#nextThreadId++
    const now = new Date().toISOString()
    this.threads.set(id, { id, agentId, userId, title, createdAt: now, updatedAt: now, responses: [] })
    return id
  }

  /** A thread only its owner may see: undefined for anyone else, as if it did not exist. */
  ownThread (threadId: number, userId: string): SimThread | undefined {
    const thread = this.threads.get(threadId)
    return thread?.userId === userId ? thread : undefined
  }

  addResponse (thread: SimThread, answer: Omit<SimAgentResponse, 'id' | 'threadId' | 'feedback'>): SimAgentResponse {
    const response: SimAgentResponse = { ...answer, id: this.#nextResponseId++, threadId: thread.id, feedback: [] }
    thread.responses.push(response)
    thread.updatedAt = new Date().toISOString()
    this.agentResponses.set(response.id, response)
    return response
  }

  deleteThread (thread: SimThread): void {
    this.threads.delete(thread.id)
    for (const response of thread.responses) this.agentResponses.delete(response.id)
  }

  /** One vote per response: a new vote replaces the previous one. */
  vote (response: SimAgentResponse, voteType: VoteType): { id: number, vote_type: VoteType } {
    const feedback = { id: this.#nextFeedbackId++, vote_type: voteType }
    response.feedback = [feedback]
    return feedback
  }

  sendMail (mail: SentMail): void {
    this.outbox.push(mail)
    this.#bound(this.outbox)
    this.onMail?.(mail)
  }

  /** The newest mail sent to this address. */
  lastMail (email: string): SentMail | undefined {
    const wanted = email.toLowerCase()
    return this.outbox.findLast((mail) => mail.to === wanted)
  }

  issueToken (user: SimUser, typ: TokenKind): string {
    const now = Date.now()
    const ttl = typ === 'auth' ? this.settings.authTokenTtl : this.settings.ejentoTokenTtl
    const claims: Claims = { sub: user.id, typ, jti: randomUUID(), iatMs: now, expMs: now + ttl * 1000 }
    const jwtClaims: Record<string, unknown> = { sub: claims.sub, typ, jti: claims.jti, iat: Math.floor(now / 1000), iat_ms: now, exp_ms: claims.expMs }
    switch (this.settings.tokenFormat) {
      case 'jwt':
        return signJwt({ ...jwtClaims, exp: Math.floor(claims.expMs / 1000) }, this.#key)
      case 'jwt-without-exp':
        return signJwt(jwtClaims, this.#key)
      case 'opaque': {
        const token = randomBytes(24).toString('base64url')
        this.#opaque.set(token, claims)
        return token
      }
    }
  }

  tokenPair (user: SimUser): { access_token: string, ejento_access_token: string } {
    const pair = { access_token: this.issueToken(user, 'auth'), ejento_access_token: this.issueToken(user, 'ejento') }
    this.issuedTokens.push(pair.access_token, pair.ejento_access_token)
    this.#bound(this.issuedTokens)
    this.#maybeForgetExpired()
    return pair
  }

  record (request: RecordedRequest): void {
    this.requests.push(request)
    this.#bound(this.requests)
  }

  /** Keeps the newest `recordLimit` entries; trims in batches so that a push stays cheap. */
  #bound (list: unknown[]): void {
    const limit = this.settings.recordLimit
    if (list.length > limit + Math.ceil(limit / 10)) list.splice(0, list.length - limit)
  }

  /** The user a token belongs to, or undefined when it is invalid, expired, revoked or of the wrong kind. */
  verifyToken (token: string | undefined, typ: TokenKind): { user: SimUser, claims: Claims } | undefined {
    if (token === undefined) return undefined
    const claims = this.#opaque.get(token) ?? this.#claimsFromJwt(token)
    if (claims === undefined || claims.typ !== typ) return undefined
    if (claims.expMs <= Date.now() || claims.iatMs < this.#notBefore[typ] || this.#revoked.has(claims.jti)) return undefined
    const user = this.users.get(claims.sub)
    if (user === undefined || !user.is_active) return undefined
    return { user, claims }
  }

  revoke (jti: string, expMs: number): void {
    this.#revoked.set(jti, expMs)
    this.#maybeForgetExpired()
  }

  /** Every thousand tokens issued or revoked, forgets the revocations and opaque tokens that expired anyway. */
  #maybeForgetExpired (): void {
    if (++this.#changesSinceForget < 1000) return
    this.#changesSinceForget = 0
    const now = Date.now()
    for (const [jti, expMs] of this.#revoked) if (expMs <= now) this.#revoked.delete(jti)
    for (const [token, claims] of this.#opaque) if (claims.expMs <= now) this.#opaque.delete(token)
  }

  /** Every token of this kind issued until now stops working, as if it had expired. */
  expireTokens (kind: TokenKind | 'all'): void {
    const now = Date.now() + 1
    if (kind === 'auth' || kind === 'all') this.#notBefore.auth = now
    if (kind === 'ejento' || kind === 'all') this.#notBefore.ejento = now
  }

  /** The first injection that matches this request, consumed once. */
  takeInjection (upstream: UpstreamKind, method: string, path: string): Injection | undefined {
    const index = this.injections.findIndex((injection) =>
      (injection.upstream === undefined || injection.upstream === upstream) &&
      (injection.method === undefined || injection.method === method) &&
      (injection.path === undefined || (typeof injection.path === 'string' ? injection.path === path : injection.path.test(path))))
    if (index === -1) return undefined
    const injection = this.injections[index] as Injection
    const left = (injection.times ?? 1) - 1
    if (left <= 0) this.injections.splice(index, 1)
    else injection.times = left
    return injection
  }

  #claimsFromJwt (token: string): Claims | undefined {
    const raw = verifyJwt(token, this.#key)
    if (raw === null || typeof raw.sub !== 'string' || typeof raw.jti !== 'string' || typeof raw.iat_ms !== 'number') return undefined
    if (raw.typ !== 'auth' && raw.typ !== 'ejento') return undefined
    return { sub: raw.sub, typ: raw.typ, jti: raw.jti, iatMs: raw.iat_ms, expMs: typeof raw.exp_ms === 'number' ? raw.exp_ms : Infinity }
  }
}

export function publicUser (user: SimUser): Omit<SimUser, 'passwordHash'> {
  const { passwordHash: _ignored, ...rest } = user
  return rest
}
