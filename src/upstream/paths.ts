/**
 * Every upstream path the BFF calls, in one table per path profile, so that a new
 * Ejento deployment style is one more entry here and no route changes.
 * Ids are inserted already validated and percent-encoded by the caller.
 */
export interface PathProfile {
  auth: {
    signup: string
    login: string
    refresh: string
    users: string
    user: (userId: string) => string
    ownPassword: string
    /** Paths that answer with tokens: never reachable through the passthrough. */
    tokenIssuing: readonly RegExp[]
  }
  api: {
    chatThread: (agentId: string) => string
    response: (agentId: string) => string
    /** Where a streamed answer is asked for (the same path as `response` when `Accept` decides). */
    responseStream: (agentId: string) => string
  }
}

/** The paths of the Ejento API access guide: the default. */
const guide: PathProfile = {
  auth: {
    signup: '/api/users/signup',
    login: '/api/login/access-token',
    refresh: '/api/users/refresh-access-token',
    users: '/api/users/',
    user: (userId) => `/api/users/${userId}`,
    ownPassword: '/api/users/me/password',
    tokenIssuing: [/^\/api\/login(?:\/|$)/i, /^\/api\/users\/refresh-access-token(?:\/|$)/i]
  },
  api: {
    chatThread: (agentId) => `/api/agent/${agentId}/chat-thread`,
    response: (agentId) => `/api/agent/${agentId}/response`,
    responseStream: (agentId) => `/api/agent/${agentId}/response`
  }
}

/**
 * Hosted Ejento's newer "v2" paths. The log-in, chat-thread and response paths are the
 * documented ones; the others follow the same service prefixes.
 */
const v2: PathProfile = {
  auth: {
    signup: '/auth-service/api/v2/users/signup',
    login: '/auth-service/api/v2/login/access-token',
    refresh: '/auth-service/api/v2/users/refresh-access-token',
    users: '/auth-service/api/v2/users/',
    user: (userId) => `/auth-service/api/v2/users/${userId}`,
    ownPassword: '/auth-service/api/v2/users/me/password',
    tokenIssuing: [
      /^\/auth-service\/api\/v2\/login(?:\/|$)/i,
      /^\/auth-service\/api\/v2\/users\/refresh-access-token(?:\/|$)/i,
      // Passwordless log-in: the one-time code is traded for both tokens.
      /^\/auth-service\/api\/v2\/users\/verify-otp(?:\/|$)/i
    ]
  },
  api: {
    chatThread: (agentId) => `/api/v2/agents/${agentId}/chat-threads`,
    response: (agentId) => `/response-service/api/v2/agents/${agentId}/responses`,
    responseStream: (agentId) => `/response-service/api/v2/agents/${agentId}/responses/stream`
  }
}

export const PATH_PROFILES = { guide, v2 } as const satisfies Record<string, PathProfile>

export type PathProfileName = keyof typeof PATH_PROFILES
