import type { FastifyRequest } from 'fastify'
import type { LoggerOptions } from 'pino'
import type { LogLevel } from './config/index.js'

const CENSOR = '[redacted]'

/**
 * Everything that could carry a secret is censored before a line is written,
 * wherever it appears: request and response headers, bodies, errors.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["ocp-apim-subscription-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["ocp-apim-subscription-key"]',
  'password',
  'tokens',
  '*.password',
  '*.current_password',
  '*.new_password',
  '*.access_token',
  '*.ejento_access_token',
  '*.authToken',
  '*.ejentoToken',
  '*.tokens',
  '*.cookie',
  '*.authorization'
]

/**
 * Query parameters whose values are credentials wherever they appear: password,
 * current_password, access_token, ejento_access_token, code, otp, client_secret, api_key,
 * subscription-key, sig... Matched on any part of the name, so a variant is censored too
 * (and an innocent `author` as well: a censored value costs less than a leaked one).
 */
const SECRET_PARAMETER = /pass|pwd|token|secret|key|code|otp|auth|sig|session|cookie|credential|jwt/

/** Paths where every query value is censored: the log-in family, and the passthrough to the auth-app. */
const CREDENTIAL_PATH = /^\/+(?:auth|proxy\/+auth)(?:\/|$)/

const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i

/**
 * The request URL as logs show it: the path, and the query with the values of credential-like
 * parameters replaced (all values on /auth/* and /proxy/auth/*). Clients do put passwords in
 * query strings (`POST /auth/login?username=..&password=..`), and the request line is logged
 * before any route has refused them. `;` separates too, as some upstreams read it so.
 */
export function censorUrl (target: string): string {
  // Browsers never send a fragment; whoever does gets none of it logged.
  const fragmentStart = target.indexOf('#')
  const url = fragmentStart === -1 ? target : `${target.slice(0, fragmentStart)}#${CENSOR}`
  const queryStart = url.indexOf('?')
  if (queryStart === -1) return url
  const path = url.slice(0, queryStart)
  // An absolute-form target (`POST http://host/auth/login?...`) is routed by its path.
  const decodedPath = decodedLowerCase(path.replace(ORIGIN, ''))
  // A path that does not even decode could be anything: censor every value.
  const censorAll = decodedPath === undefined || CREDENTIAL_PATH.test(decodedPath)
  const end = fragmentStart === -1 ? url.length : fragmentStart
  const parts = url.slice(queryStart + 1, end).split(/([&;])/)
  const censored = parts.map((part, index) => {
    // Odd indexes are the separators themselves.
    if (index % 2 === 1 || part === '') return part
    const equals = part.indexOf('=')
    if (equals === -1) return censorAll ? CENSOR : part
    const name = part.slice(0, equals)
    return censorAll || isSecretName(name) ? `${name}=${CENSOR}` : part
  })
  return `${path}?${censored.join('')}${url.slice(end)}`
}

function isSecretName (name: string): boolean {
  const decoded = decodedLowerCase(name.replaceAll('+', ' '))
  // A name that does not even decode is not one to trust.
  return decoded === undefined || SECRET_PARAMETER.test(decoded)
}

function decodedLowerCase (text: string): string | undefined {
  try {
    return decodeURIComponent(text).toLowerCase()
  } catch {
    return undefined
  }
}

/** Fastify's request serializer, with the URL censored. */
function serializeRequest (request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: censorUrl(request.url),
    version: request.headers['accept-version'],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}

export function loggerOptions (level: LogLevel): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    serializers: { req: serializeRequest },
    base: { service: 'ejento-bff' }
  }
}
