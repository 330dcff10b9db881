/**
 * Every upstream path the BFF calls, in one table per path profile, so that a new
 * Ejento deployment style is one more entry here and no route changes. A call a profile's
 * upstream does not have is left out (undefined): its route answers 501 `not_supported`
 * instead of guessing a path. Ids are inserted already validated and percent-encoded by the caller.
 */
export interface PathProfile {
  name: string
  auth: {
    signup: string
    login: string
    refresh: string
    users: string
    user: (userId: string) => string
    ownPassword: string
    /** Password-less log-in: `{email, next}` → an `otp_session_id`; a code (and a magic link to `next`) is e-mailed. */
    passwordlessStart?: string
    /** `{otp_session_id, code}` → both tokens. */
    passwordlessVerify?: string
    /** Which log-in methods the deployment offers (feature flags). */
    loginMethods?: string
    /** Where the browser goes to log in with an SSO provider; Ejento comes back to `next` with both tokens on the URL. */
    ssoLogin?: (provider: string) => string
    /** Paths that answer with tokens: never reachable through the passthrough. */
    tokenIssuing: readonly RegExp[]
  }
  /** Who the tokens belong to (full name included), on the server and with the token named. */
  whoAmI?: { upstream: 'auth' | 'ejento', path: string }
  api: {
    chatThread: (agentId: string) => string
    response: (agentId: string) => string
    /** Where a streamed answer is asked for (the same path as `response` when `Accept` decides). */
    responseStream: (agentId: string) => string
    /** How the upstream streams an answer: the guide's named events, or v2's `data:` lines switched on `step`. */
    streamFormat: 'events' | 'steps'
    /** The upstream itself starts a thread when asked with `chat_thread_id: null` (else the BFF creates one first). */
    responseCreatesThread: boolean
    /** A new thread's body names its agent and creator (`{agent, created_by}`), as hosted Ejento wants. */
    threadNamesCreator: boolean
    /** The user's conversations with an agent. */
    chatThreads?: (agentId: string) => string
    /** One conversation's questions and answers. */
    threadResponses?: (threadId: string) => string
    /** One conversation: renamed (with `threadRenameMethod`) and deleted here. */
    thread?: (threadId: string) => string
    threadRenameMethod?: 'PUT' | 'PATCH'
    /** A vote on one agent response. */
    feedback?: (responseId: string) => string
  }
}

/** The paths of the Ejento API access guide: the default. Its upstream has no conversation list, password-less or SSO log-in. */
const guide: PathProfile = {
  name: 'guide',
  auth: {
    signup: '/api/users/signup',
    login: '/api/login/access-token',
    refresh: '/api/users/refresh-access-token',
    users: '/api/users/',
    user: (userId) => `/api/users/${userId}`,
    ownPassword: '/api/users/me/password',
    tokenIssuing: [/^\/api\/login(?:\/|$)/i, /^\/api\/users\/refresh-access-token(?:\/|$)/i]
  },
  whoAmI: { upstream: 'auth', path: '/api/users/me' },
  api: {
    chatThread: (agentId) => `/api/agent/${agentId}/chat-thread`,
    response: (agentId) => `/api/agent/${agentId}/response`,
    responseStream: (agentId) => `/api/agent/${agentId}/response`,
    streamFormat: 'events',
    responseCreatesThread: false,
    threadNamesCreator: false
  }
}

/**
 * Hosted Ejento's "v2" paths, as its own client code (the Quickstart-Template) calls them.
 * Every call also carries the API gateway's subscription key (EJENTO_SUBSCRIPTION_KEY).
 */
const v2: PathProfile = {
  name: 'v2',
  auth: {
    signup: '/auth-service/api/v2/users/signup',
    login: '/auth-service/api/v2/login/access-token',
    refresh: '/auth-service/api/v2/users/refresh-access-token',
    users: '/auth-service/api/v2/users/',
    user: (userId) => `/auth-service/api/v2/users/${userId}`,
    ownPassword: '/auth-service/api/v2/users/me/password',
    passwordlessStart: '/auth-service/api/v2/users/passwordless-auth',
    passwordlessVerify: '/auth-service/api/v2/users/verify-otp',
    loginMethods: '/auth-service/api/v2/feature-flags/logins',
    ssoLogin: (provider) => `/auth-service/api/v2/sso/${provider}/login`,
    tokenIssuing: [
      /^\/auth-service\/api\/v2\/login(?:\/|$)/i,
      /^\/auth-service\/api\/v2\/users\/refresh-access-token(?:\/|$)/i,
      // Password-less log-in: the one-time code is traded for both tokens.
      /^\/auth-service\/api\/v2\/users\/verify-otp(?:\/|$)/i,
      // Asks Ejento to mail a code and a magic link to any address: only through /auth/passwordless/start, rate-limited.
      /^\/auth-service\/api\/v2\/users\/passwordless-auth(?:\/|$)/i,
      /^\/auth-service\/api\/v2\/users\/validate-magic-link(?:\/|$)/i,
      // SSO ends in a redirect carrying both tokens.
      /^\/auth-service\/api\/v2\/sso(?:\/|$)/i
    ]
  },
  whoAmI: { upstream: 'ejento', path: '/api/v2/users/me' },
  api: {
    chatThread: (agentId) => `/api/v2/agents/${agentId}/chat-threads`,
    response: (agentId) => `/response-service/api/v2/agents/${agentId}/responses`,
    responseStream: (agentId) => `/response-service/api/v2/agents/${agentId}/responses/stream`,
    streamFormat: 'steps',
    responseCreatesThread: true,
    threadNamesCreator: true,
    chatThreads: (agentId) => `/api/v2/agents/${agentId}/chat-threads?query_source=app-ejento`,
    threadResponses: (threadId) => `/api/v2/chat-threads/${threadId}/agent-responses?include_steps=true`,
    thread: (threadId) => `/api/v2/chat-threads/${threadId}`,
    threadRenameMethod: 'PUT',
    feedback: (responseId) => `/api/v2/agent-responses/${responseId}/feedbacks`
  }
}

export const PATH_PROFILES = { guide, v2 } as const satisfies Record<string, PathProfile>

export type PathProfileName = keyof typeof PATH_PROFILES
