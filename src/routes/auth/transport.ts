import type { FastifyRequest } from 'fastify'
import { HttpProblem } from '../../errors.js'

/** A route that sets a Secure cookie refuses plain HTTP: the browser would drop the cookie and the log-in would seem to fail for no reason. */
export function assertCookieTransport (request: FastifyRequest, cookieSecure: boolean): void {
  if (cookieSecure && request.protocol !== 'https') {
    throw new HttpProblem(400, 'insecure_transport', 'COOKIE_SECURE is on but this request arrived over plain HTTP, so the session cookie could not be kept. Serve the BFF over HTTPS (with TRUST_PROXY behind a TLS-terminating proxy), or set COOKIE_SECURE=false for local use.')
  }
}
