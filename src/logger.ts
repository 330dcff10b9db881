import type { LoggerOptions } from 'pino'
import type { LogLevel } from './config/index.js'

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

export function loggerOptions (level: LogLevel): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { service: 'ejento-bff' }
  }
}
