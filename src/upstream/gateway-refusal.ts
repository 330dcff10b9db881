import type { IncomingHttpHeaders } from 'node:http'
import { HttpProblem } from '../errors.js'

/**
 * Hosted Ejento's API gateway (Azure API Management) refuses the BFF itself, before Ejento sees
 * the call, in its own shape `{statusCode, message}` (Ejento's are `{success, message}` or
 * `{detail}`): 401 "Access denied due to missing|invalid subscription key. ...", and 403 "Out of
 * call volume quota. Quota will be replenished in hh:mm:ss." when the subscription's quota is
 * used up. Both are the deployment's, not the user's: never a wrong password or code, never a
 * dead token (a refresh would be refused the same way and end a session whose tokens are good).
 */
const KEY_REFUSAL = /subscription key/i
const QUOTA_REFUSAL = /quota/i

/** The problem to answer for the gateway's own refusal of the BFF; undefined for any other answer (Ejento's own). */
export function gatewayRefusal (upstream: string, status: number, body: unknown, headers: IncomingHttpHeaders): HttpProblem | undefined {
  if (status !== 401 && status !== 403) return undefined
  if (typeof body !== 'object' || body === null) return undefined
  const { statusCode, message } = body as { statusCode?: unknown, message?: unknown }
  if (typeof statusCode !== 'number' || typeof message !== 'string') return undefined
  if (KEY_REFUSAL.test(message)) return gatewayKeyRefused(upstream)
  if (status === 403 && QUOTA_REFUSAL.test(message)) return gatewayQuotaExceeded(upstream, headers['retry-after'])
  return undefined
}

/** 502 `upstream_key_refused`: the operator must fix EJENTO_SUBSCRIPTION_KEY; sessions are kept. */
function gatewayKeyRefused (upstream: string): HttpProblem {
  return new HttpProblem(502, 'upstream_key_refused', `The API gateway in front of the ${upstream} server refused the BFF's subscription key (EJENTO_SUBSCRIPTION_KEY). Nothing is wrong with the session; try again once the key is fixed.`)
}

/** 503 `upstream_quota_exceeded`, with the gateway's Retry-After (seconds) when it gave one; sessions are kept. */
function gatewayQuotaExceeded (upstream: string, retryAfter: string | string[] | undefined): HttpProblem {
  const headers = typeof retryAfter === 'string' && /^\d{1,9}$/.test(retryAfter) ? { 'retry-after': retryAfter } : undefined
  return new HttpProblem(503, 'upstream_quota_exceeded', `The API gateway in front of the ${upstream} server says the BFF's subscription is out of its call quota. Nothing is wrong with the session; try again later.`, { headers })
}
