import type { CookieSerializeOptions } from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PENDING_LOGIN_TTL_MS } from './pending-logins.js'

/**
 * The pre-log-in cookie: binds a log-in under way (SSO, password-less) to the browser that
 * started it, so that only that browser can end it (a callback URL or a code used elsewhere
 * logs nobody in there). It holds a random, signed id, never the otp_session_id or a state,
 * and lives as long as the log-in may take. Beside a `__Host-` session cookie it is `__Host-`
 * too (so Path=/): any other prefix can be set from a sibling host (`Domain=` the parent), and
 * a planted one, the attacker's own, would make her callback URL log the victim in as her.
 * Without a secure cookie, it is only sent to /auth.
 */
export class PendingLoginCookie {
  readonly name: string
  readonly #attributes: CookieSerializeOptions

  constructor (sessionCookieName: string, secure: boolean) {
    this.name = `${sessionCookieName}-login`
    // A __Host- cookie must have Path=/.
    this.#attributes = { path: sessionCookieName.startsWith('__Host-') ? '/' : '/auth', httpOnly: true, sameSite: 'lax', secure }
  }

  set (reply: FastifyReply, id: string): void {
    reply.setCookie(this.name, id, { ...this.#attributes, signed: true, maxAge: PENDING_LOGIN_TTL_MS / 1000 })
  }

  /** The id a validly signed cookie names; undefined without one (or with a forged one). */
  read (request: FastifyRequest): string | undefined {
    const cookie = request.cookies[this.name]
    if (cookie === undefined || cookie === '') return undefined
    const { valid, value } = request.unsignCookie(cookie)
    return valid && value !== null && value !== '' ? value : undefined
  }

  clear (reply: FastifyReply): void {
    reply.clearCookie(this.name, this.#attributes)
  }
}
