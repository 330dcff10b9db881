import { askEvents } from './events.js'
import type { AskEvent } from './events.js'
import { ClientError } from './errors.js'
import { Transport, parseAnswer } from './http.js'
import type { CallOptions, ClientOptions } from './http.js'
import { assertNoDotSegment, segment } from './paths.js'
import type * as T from './types.js'

/**
 * An Ejento id in a path: a number or a string of letters, digits, `_` and `-` (the BFF refuses
 * others with 400; `.` and `..` the client refuses itself, ClientError `unsafe_path`).
 */
export type Id = string | number

/**
 * A typed client of the Ejento BFF for browser apps. The browser holds only the BFF's HttpOnly
 * session cookie (sent along with every call); Ejento's tokens never reach it. Every method
 * takes `{signal}` to abort; an answer that is not 2xx throws `BffError`.
 */
export class BffClient {
  readonly #http: Transport

  constructor (options: ClientOptions = {}) {
    this.#http = new Transport(options)
  }

  // --- Log-in and the session -------------------------------------------------------------

  /** The log-in methods this deployment offers (password, e-mailed code, SSO providers) and its path profile. */
  async loginMethods (options?: CallOptions): Promise<T.LoginMethods> {
    return await this.#http.json('GET', '/auth/methods', { ...options })
  }

  /** Who is logged in: `{authenticated: false}` or the user and when the session ends. */
  async session (options?: CallOptions): Promise<T.Session> {
    return await this.#http.json('GET', '/auth/session', { ...options })
  }

  /** Logs in with a password; the BFF sets the session cookie (a new session id). 401 `invalid_credentials` when refused. */
  async login (credentials: T.Credentials, options?: CallOptions): Promise<T.LoginAnswer> {
    return await this.#http.json('POST', '/auth/login', { ...options, body: credentials })
  }

  /** Creates an account upstream; does not log in. */
  async signup (body: T.SignupBody, options?: CallOptions): Promise<T.SignupAnswer> {
    return await this.#http.json('POST', '/auth/signup', { ...options, body })
  }

  /** Has Ejento e-mail a log-in code (v2; 501 `not_supported` on the guide's profile). Answers alike for every address. */
  async startPasswordless (body: T.PasswordlessStartBody, options?: CallOptions): Promise<T.PasswordlessStartAnswer> {
    return await this.#http.json('POST', '/auth/passwordless/start', { ...options, body })
  }

  /** Logs in with the e-mailed code, as `login` does; 401 `invalid_code`, 400 `passwordless_not_started`. */
  async verifyPasswordless (body: T.PasswordlessVerifyBody, options?: CallOptions): Promise<T.PasswordlessVerifyAnswer> {
    return await this.#http.json('POST', '/auth/passwordless/verify', { ...options, body })
  }

  /**
   * Where to send the browser for a single sign-on log-in with `provider` (one of `loginMethods().sso`):
   * a navigation (`location.assign(...)`), not a call. It comes back to `returnTo`, a path of this
   * app (default `/`), with the session cookie set, or to `/?login_error=<code>`.
   */
  ssoUrl (provider: string, options: { returnTo?: string } = {}): string {
    return this.#http.url(`/auth/sso/${segment(provider)}`, { return_to: options.returnTo })
  }

  /** Ends this session (or, with `scope`, the user's others, or all of them) and clears the cookie; idempotent. */
  async logout (options: CallOptions & T.LogoutQuery = {}): Promise<void> {
    const { signal, ...query } = options
    await this.#http.json('POST', '/auth/logout', { signal, query })
  }

  /** Refreshes Ejento's tokens now (the BFF does so by itself when they are about to expire). */
  async refresh (options?: CallOptions): Promise<void> {
    await this.#http.json('POST', '/auth/refresh', { ...options })
  }

  /** The user's active sessions (devices), the current one marked. */
  async sessions (options?: CallOptions): Promise<T.SessionList> {
    return await this.#http.json('GET', '/auth/sessions', { ...options })
  }

  /** Ends one of the user's sessions everywhere, by its `handle`; 404 `session_not_found` for another user's or an unknown one. */
  async endSession (handle: string, options?: CallOptions): Promise<void> {
    await this.#http.json('DELETE', `/auth/sessions/${segment(handle)}`, { ...options })
  }

  /** Ends every session of the user but this one. */
  async endOtherSessions (options?: CallOptions): Promise<void> {
    await this.#http.json('DELETE', '/auth/sessions', { ...options })
  }

  // --- Conversations and answers (Ejento's answers, passed through) ------------------------

  /** Starts a conversation with an agent (v2: the BFF names the agent and the user). */
  async createChatThread (agentId: Id, body: T.NewChatThreadBody = {}, options?: CallOptions): Promise<T.NewChatThreadAnswer> {
    return await this.#http.json('POST', `/api/agents/${segment(agentId)}/chat-threads`, { ...options, body })
  }

  /** The user's conversations with an agent, newest first (v2; 501 `not_supported` on the guide's profile). */
  async chatThreads (agentId: Id, options?: CallOptions): Promise<T.ChatThreadList> {
    return await this.#http.json('GET', `/api/agents/${segment(agentId)}/chat-threads`, { ...options })
  }

  /** A conversation's questions and answers, oldest first, with their votes (v2). */
  async chatThreadHistory (threadId: Id, options?: CallOptions): Promise<T.ChatThreadHistory> {
    return await this.#http.json('GET', `/api/chat-threads/${segment(threadId)}/responses`, { ...options })
  }

  /** Renames a conversation (v2). */
  async renameChatThread (threadId: Id, title: T.RenameChatThreadBody['title'], options?: CallOptions): Promise<T.RenameChatThreadAnswer> {
    return await this.#http.json('PATCH', `/api/chat-threads/${segment(threadId)}`, { ...options, body: { title } })
  }

  /** Deletes a conversation (v2). */
  async deleteChatThread (threadId: Id, options?: CallOptions): Promise<T.DeleteChatThreadAnswer> {
    return await this.#http.json('DELETE', `/api/chat-threads/${segment(threadId)}`, { ...options })
  }

  /** Votes on an answer (`agent_response_id` of a v2 answer); a new vote replaces the last. */
  async sendFeedback (responseId: Id, voteType: T.FeedbackBody['vote_type'], options?: CallOptions): Promise<T.FeedbackAnswer> {
    return await this.#http.json('POST', `/api/responses/${segment(responseId)}/feedback`, { ...options, body: { vote_type: voteType } })
  }

  /**
   * Asks an agent and yields the answer's events as they arrive, typed, in either stream format
   * (`format` says which): iterate with `for await`. `chat_thread_id` null or absent starts a
   * conversation. Leaving the loop early, or aborting `signal`, stops the answer upstream too.
   */
  async * ask (agentId: Id, body: T.AskBody, options?: CallOptions): AsyncGenerator<AskEvent, void, undefined> {
    const response = await this.#http.send('POST', `/api/agents/${segment(agentId)}/responses`, { ...options, body, accept: 'text/event-stream' })
    if (response.body !== null && /^text\/event-stream/i.test(response.headers.get('content-type') ?? '')) {
      yield * askEvents(response.body, { maxEventSize: this.#http.maxEventSize })
      return
    }
    // Ejento answered all at once although a stream was asked for: one event with the whole answer.
    const path = `/api/agents/${segment(agentId)}/responses`
    const text = await response.text()
    if (text === '') throw new ClientError('invalid_answer', `POST ${path} answered ${response.status} with neither an event stream nor an answer.`)
    yield { format: 'json', type: 'answer', data: parseAnswer(text, 'POST', path, response) as T.AskAnswer }
  }

  /** Asks an agent and answers its whole answer as JSON (no stream). */
  async askJson (agentId: Id, body: T.AskBody, options?: CallOptions): Promise<T.AskAnswer> {
    return await this.#http.json('POST', `/api/agents/${segment(agentId)}/responses`, { ...options, body })
  }

  // --- Users (the authentication server's) ----------------------------------------------------

  /** The users list (Ejento decides who may read it). */
  async users (query: T.UserListQuery = {}, options?: CallOptions): Promise<T.UserList> {
    return await this.#http.json('GET', '/api/users', { ...options, query })
  }

  /** Changes the user's password; the BFF ends the user's other sessions and renews this one's id. */
  async changePassword (body: T.PasswordChangeBody, options?: CallOptions): Promise<T.PasswordChangeAnswer> {
    return await this.#http.json('PATCH', '/api/users/me/password', { ...options, body })
  }

  /** Changes a user (an admin's call); a new password or e-mail, or `is_active: false`, ends their sessions. */
  async updateUser (userId: Id, body: T.UserUpdateBody, options?: CallOptions): Promise<T.UserUpdateAnswer> {
    return await this.#http.json('PATCH', `/api/users/${segment(userId)}`, { ...options, body })
  }

  // --- Anything else: the passthrough ----------------------------------------------------------

  /**
   * A call no route names, through the BFF's passthrough to Ejento's API server (`'ejento'`) or its
   * authentication server (`'auth'`), with the right token added by the BFF: e.g. the agent list,
   * `proxy('ejento', '/api/v2/agents')`. `path` is Ejento's path; its answer is not described.
   * A path with a dot segment (`..`, `.`, `%2e`) is refused unsent (ClientError `unsafe_path`):
   * the browser would resolve it, out of the passthrough.
   */
  async proxy<Answer = unknown> (upstream: 'ejento' | 'auth', path: `/${string}`, options: CallOptions & { method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', body?: unknown, query?: Record<string, string | number | boolean | undefined> } = {}): Promise<Answer> {
    const { method = 'GET', ...rest } = options
    // Typed, but a JavaScript caller may pass anything: an upstream of `ejento/../..` would leave the passthrough.
    if (upstream !== 'ejento' && upstream !== 'auth') throw new ClientError('invalid_option', 'proxy()\'s upstream must be \'ejento\' or \'auth\': not sent.')
    assertNoDotSegment(path)
    return await this.#http.json(method, `/proxy/${upstream}${path}`, rest)
  }
}

/** A client of the BFF at `options.baseUrl` (default: the page's own origin); ClientError `invalid_base_url` or `invalid_option` for options it cannot take. */
export function createClient (options: ClientOptions = {}): BffClient {
  return new BffClient(options)
}
