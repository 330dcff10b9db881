/** JSON schemas of the API routes: they keep bad ids and bodies from ever reaching Ejento. */

/** Ejento's ids are integers, user ids may be uuids: letters, digits, `-` and `_`, nothing that could move a path. */
export const SAFE_ID = '^[A-Za-z0-9_-]{1,64}$'

export const agentParams = {
  type: 'object',
  properties: { agentId: { type: 'string', pattern: SAFE_ID } },
  required: ['agentId']
} as const

/**
 * A user id, but never a name the authentication server routes beside `/api/users/{id}`:
 * `PATCH /api/users/refresh-access-token` must not reach a token-issuing path, even one that
 * routes by method.
 */
export const SAFE_USER_ID = '^(?!(?:me|login|signup|token|access-token|refresh-token|refresh-access-token)$)[A-Za-z0-9_-]{1,64}$'

export const userParams = {
  type: 'object',
  properties: { userId: { type: 'string', pattern: SAFE_USER_ID } },
  required: ['userId']
} as const

/** A conversation (chat thread) id: checked like an agent id. */
export const threadParams = {
  type: 'object',
  properties: { threadId: { type: 'string', pattern: SAFE_ID } },
  required: ['threadId']
} as const

/** An agent response id: checked like an agent id. */
export const responseParams = {
  type: 'object',
  properties: { responseId: { type: 'string', pattern: SAFE_ID } },
  required: ['responseId']
} as const

export const threadRenameBody = {
  type: 'object',
  properties: { title: { type: 'string', minLength: 1, maxLength: 255 } },
  required: ['title'],
  additionalProperties: false
} as const

/** The upstream decides the vocabulary (v2: upvote, downvote); the BFF only keeps it a plain word. */
export const feedbackBody = {
  type: 'object',
  properties: { vote_type: { type: 'string', pattern: '^[a-z_]{1,32}$' } },
  required: ['vote_type'],
  additionalProperties: false
} as const

export const chatThreadBody = {
  type: ['object', 'null'],
  description: 'Optional; passed to Ejento as is ({} when absent).'
} as const

/** The document's request body of a new thread: optional (the route's `body` schema would be marked required). */
export const chatThreadRequestBody = {
  required: false,
  description: 'Optional; passed to Ejento as is (`{}` when absent). On v2 the BFF names the agent and the creator (`{agent, created_by}`), fields given here win.',
  content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } }
} as const

export const responseBody = {
  type: 'object',
  properties: {
    user_query: { type: 'string', minLength: 1, maxLength: 100_000 },
    // null (or absent): a new conversation, started by the upstream or, on the guide's, by the BFF.
    chat_thread_id: { type: ['integer', 'string', 'null'], pattern: SAFE_ID, minimum: 0 },
    history: { type: 'array', maxItems: 1000 },
    overrides: { type: 'object' }
  },
  required: ['user_query'],
  additionalProperties: true
} as const

export const usersQuery = {
  type: 'object',
  properties: {
    skip: { type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }
  },
  additionalProperties: false
} as const

export const ownPasswordBody = {
  type: 'object',
  properties: {
    current_password: { type: 'string', minLength: 1, maxLength: 1024 },
    new_password: { type: 'string', minLength: 8, maxLength: 128 }
  },
  required: ['current_password', 'new_password'],
  additionalProperties: false
} as const

export const userUpdateBody = {
  type: 'object',
  properties: {
    email: { type: 'string', format: 'email', maxLength: 255 },
    is_active: { type: 'boolean' },
    is_superuser: { type: 'boolean' },
    full_name: { type: ['string', 'null'], maxLength: 255 },
    password: { type: 'string', minLength: 8, maxLength: 128 }
  },
  minProperties: 1,
  additionalProperties: false
} as const
