/** JSON schemas of the session routes; they validate input and document the routes. */
import { problemAnswer } from '../responses.js'

export const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    full_name: { type: 'string', description: 'As the upstream\'s who-am-I gave it at log-in; absent when it did not answer' }
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

export const loginMethodsSchema = {
  type: 'object',
  properties: {
    profile: { type: 'string', description: 'EJENTO_PATH_PROFILE: guide or v2' },
    password: { type: 'boolean', const: true, description: 'POST /auth/login' },
    passwordless: { type: 'boolean', description: 'POST /auth/passwordless/start and /verify' },
    sso: { type: 'array', items: { type: 'string' }, description: 'Providers for GET /auth/sso/{provider}' },
    demo: { type: 'boolean', const: true, description: 'Present in demo mode only (npm run demo): the upstream is the built-in simulator, with its demo accounts' }
  },
  required: ['profile', 'password', 'passwordless', 'sso']
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

/**
 * The log-in as the document shows it: JSON with `email`, or the form curl -d sends with
 * `username` (the route's `body` schema, which validates both, would show JSON only).
 */
export const loginRequestBody = {
  required: true,
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: {
          email: { type: 'string', minLength: 1, maxLength: 320 },
          password: { type: 'string', minLength: 1, maxLength: 1024 },
          username: { type: 'string', minLength: 1, maxLength: 320, description: 'Taken for `email` when that is absent' }
        },
        required: ['password'],
        additionalProperties: false
      },
      example: { email: 'demo@example.com', password: 'demo-password' }
    },
    'application/x-www-form-urlencoded': {
      schema: {
        type: 'object',
        properties: {
          username: { type: 'string', minLength: 1, maxLength: 320, description: 'The e-mail address' },
          password: { type: 'string', minLength: 1, maxLength: 1024 },
          email: { type: 'string', minLength: 1, maxLength: 320, description: 'Taken instead of `username` when both are given' }
        },
        required: ['password'],
        additionalProperties: false
      }
    }
  }
} as const

export const passwordlessStartBody = {
  type: 'object',
  properties: {
    email: { type: 'string', format: 'email', maxLength: 320 }
  },
  required: ['email'],
  additionalProperties: false
} as const

export const passwordlessStartSchema = {
  type: 'object',
  description: 'The same for every address: whether an account exists is not told',
  properties: { sent: { type: 'boolean', const: true } },
  required: ['sent']
} as const

/** The code, and the address when the pre-log-in cookie is gone (another browser, cookies cleared). */
export const passwordlessVerifyBody = {
  type: 'object',
  properties: {
    code: { type: 'string', pattern: '^[A-Za-z0-9]{4,16}$' },
    email: { type: 'string', format: 'email', maxLength: 320 }
  },
  required: ['code'],
  additionalProperties: false
} as const

export const ssoParams = {
  type: 'object',
  properties: {
    provider: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,31}$', description: 'As GET /auth/methods lists it, e.g. google, microsoft' }
  },
  required: ['provider']
} as const

export const ssoQuery = {
  type: 'object',
  properties: {
    return_to: { type: 'string', maxLength: 2048, description: 'A path of this app to land on after the log-in (default /)' }
  },
  additionalProperties: false
} as const

/**
 * Ejento's answer on the URL. Untyped on purpose: whatever is wrong (a repeated parameter
 * included) is a redirect with a code, never a problem page about the URL.
 */
export const ssoCallbackQuery = {
  type: 'object',
  properties: {
    state: { description: 'The log-in\'s one-time state (a string)' },
    token: { description: 'The auth-app token (a string)' },
    ejento_access_token: { description: 'The Ejento token (a string)' }
  }
} as const

export const logoutQuery = {
  type: 'object',
  properties: {
    scope: { type: 'string', enum: ['session', 'others', 'all'], default: 'session', description: 'session: this one; others: every other session of the user (this one stays); all: every session of the user' }
  },
  additionalProperties: false
} as const

export const sessionListSchema = {
  type: 'object',
  properties: {
    sessions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          handle: { type: 'string', description: 'Opaque; names the session in DELETE /auth/sessions/{handle}, useless as a cookie' },
          createdAt: { type: 'string', format: 'date-time' },
          lastSeenAt: { type: 'string', format: 'date-time', description: 'Last use, to about the minute' },
          device: { type: 'string', description: 'From the User-Agent at log-in, e.g. "Firefox on Windows"' },
          address: { type: 'string', description: 'The log-in address cut to its network (/24, /48)' },
          current: { type: 'boolean', description: 'The session of this request' }
        },
        required: ['handle', 'createdAt', 'lastSeenAt', 'device', 'address', 'current']
      }
    }
  },
  required: ['sessions']
} as const

export const sessionHandleParams = {
  type: 'object',
  properties: {
    handle: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }
  },
  required: ['handle']
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

export interface SsoCallbackQuery {
  state?: unknown
  token?: unknown
  ejento_access_token?: unknown
}

export interface PasswordlessStartBody {
  email: string
}

export interface PasswordlessVerifyBody {
  code: string
  email?: string
}

/** A problem answer described with the codes this route gives for its status. */
export function problemWith (status: number, codes: string): Record<number, unknown> {
  return { [status]: problemAnswer(`Problem: ${codes}`) }
}
