import { HttpProblem } from '../errors.js'

/**
 * Hosted Ejento's API gateway (Azure API Management) answers a missing or wrong
 * `Ocp-Apim-Subscription-Key` itself, before Ejento sees the call: 401 `{statusCode: 401,
 * message: "Access denied due to missing|invalid subscription key. ..."}`. That is the server's
 * misconfiguration, not the user's: never a wrong password, never a dead token (a refresh would
 * be refused the same way and end a session whose tokens are good).
 */
const KEY_REFUSAL = /subscription key/i

export function isGatewayKeyRefusal (status: number, body: unknown): boolean {
  if (status !== 401 && status !== 403) return false
  if (typeof body !== 'object' || body === null) return false
  const { statusCode, message } = body as { statusCode?: unknown, message?: unknown }
  return typeof statusCode === 'number' && typeof message === 'string' && KEY_REFUSAL.test(message)
}

/** 502 `upstream_key_refused`: the operator must fix EJENTO_SUBSCRIPTION_KEY; sessions are kept. */
export function gatewayKeyRefused (upstream: string): HttpProblem {
  return new HttpProblem(502, 'upstream_key_refused', `The API gateway in front of the ${upstream} server refused the BFF's subscription key (EJENTO_SUBSCRIPTION_KEY). Nothing is wrong with the session; try again once the key is fixed.`)
}
