/** JSON schemas of the session routes; they validate input and document the routes. */

export const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    email: { type: 'string' }
  },
  required: ['email']
} as const

export const sessionSchema = {
  type: 'object',
  properties: {
    authenticated: { type: 'boolean' },
    user: userSchema,
    expiresAt: { type: 'string', format: 'date-time' }
  },
  required: ['authenticated']
} as const

export const signupBody = {
  type: 'object',
  properties: {
    email: { type: 'string', format: 'email', maxLength: 255 },
    password: { type: 'string', minLength: 8, maxLength: 128 },
    full_name: { type: ['string', 'null'], maxLength: 255 }
  },
  required: ['email', 'password'],
  additionalProperties: false
} as const

/** JSON `{email, password}` or a form with `username`/`password` (curl -d). */
export const loginBody = {
  type: 'object',
  properties: {
    email: { type: 'string', minLength: 1, maxLength: 320 },
    username: { type: 'string', minLength: 1, maxLength: 320 },
    password: { type: 'string', minLength: 1, maxLength: 1024 }
  },
  required: ['password'],
  additionalProperties: false
} as const

export const logoutQuery = {
  type: 'object',
  properties: {
    scope: { type: 'string', enum: ['session', 'all'], default: 'session' }
  },
  additionalProperties: false
} as const

export interface SignupBody {
  email: string
  password: string
  full_name?: string | null
}

export interface LoginBody {
  email?: string
  username?: string
  password: string
}
