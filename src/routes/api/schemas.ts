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

export const chatThreadBody = {
  type: ['object', 'null'],
  description: 'Optional; passed to Ejento as is ({} when absent).'
} as const

export const responseBody = {
  type: 'object',
  properties: {
    user_query: { type: 'string', minLength: 1, maxLength: 100_000 },
    chat_thread_id: { type: ['integer', 'string'], pattern: SAFE_ID, minimum: 0 },
    history: { type: 'array', maxItems: 1000 },
    overrides: { type: 'object' }
  },
  required: ['user_query', 'chat_thread_id'],
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
