import { randomBytes } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import type { CookieSerializeOptions } from '@fastify/cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { problems } from '../errors.js'
import { ownerOf } from '../session/record.js'
import type { SessionRecord } from '../session/record.js'
import type { LoadedSession } from '../session/repository.js'
import { tracing } from '../tracing/active.js'

const VERIFIED_COOKIES = 10_000

export interface SessionCookieOptions {
  cookieName: string
  cookieSecure: boolean
  /** First signs, all verify. */
  secrets: string[]
}

/** The logged-in session of a request. */
export interface ActiveSession extends LoadedSession {
  id: string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in session, or undefined for an anonymous request. */
    session: ActiveSession | undefined
    /** The id a validly signed session cookie named, whether or not its session still exists. */
    sessionCookieId: string | undefined
  }
  interface FastifyReply {
    /** Starts a brand-new session (a new id: a planted cookie is worthless) and sets its cookie. */
    startSession: (record: SessionRecord) => Promise<ActiveSession>
    /** Ends the request's session server-side, if any, and clears the cookie. */
    endSession: () => Promise<void>
    /** Moves the request's session, as stored now, to a new id (a fresh cookie), ending the old id; a session that ended meanwhile stays ended. */
    renewSession: () => Promise<void>
    clearSessionCookie: () => FastifyReply
  }
}

/**
 * The browser side of a session: an HttpOnly, SameSite=Lax cookie holding only an opaque,
 * signed id (@fastify/cookie's signer: the first SESSION_SECRET signs, all verify), backed by
 * the encrypted, versioned session store. An ordinary request costs one HMAC and one store
 * read; it writes nothing (no rolling cookie; the idle timeout is extended at most once a
 * minute). A stale or forged cookie is cleared (a second read, only then: whether a log-in or a
 * renewal just moved its session to a new id, which the browser may already hold).
 *
 * A cookie keeps the signature it got at log-in for as long as it lives (SESSION_MAX_AGE at
 * most), and any instance that lists its secret accepts it. It is never re-signed: that could
 * not retire a secret any sooner (the session's record stays encrypted under it until its next
 * write), and halfway through a rotation, instances with different first secrets would re-sign
 * each other's cookies on every request.
 *
 * This replaces @fastify/session, which computed a SHA-256 of the whole session twice and
 * signed the id again on every request (16 % of the CPU of a proxied call), wrote whole
 * sessions without versions, and cleared cookies without their attributes.
 */
export default fp(async function session (app: FastifyInstance, options: SessionCookieOptions) {
  const { cookieName } = options
  const attributes: CookieSerializeOptions = { path: '/', httpOnly: true, sameSite: 'lax', secure: options.cookieSecure }
  await app.register(fastifyCookie, { secret: options.secrets, hook: 'onRequest' })

  const setSessionCookie = (reply: FastifyReply, session: ActiveSession): void => {
    reply.setCookie(cookieName, session.id, { ...attributes, signed: true, expires: new Date(app.sessions.absoluteExpiry(session.record)) })
  }

  app.decorateRequest('session', undefined)
  app.decorateRequest('sessionCookieId', undefined)
  app.decorateReply('clearSessionCookie', function (this: FastifyReply) {
    // Browsers only accept the clearing cookie with the same attributes (Secure for __Host-).
    return this.clearCookie(cookieName, attributes)
  })
  app.decorateReply('startSession', async function (this: FastifyReply, record: SessionRecord) {
    const session = await startOrJoin(this.request.session?.id ?? this.request.sessionCookieId, record)
    this.request.session = session
    setSessionCookie(this, session)
    return session
  })

  /**
   * A new id (a planted cookie is worthless), replacing the browser's previous session in one
   * store step. Log-ins sent concurrently with one cookie (a double click, two tabs) join the
   * session the first one started, so the browser ends up with one session whichever answer it
   * keeps, and no orphan outlives its log-out. Only a log-in of the same user joins: anyone else
   * holding that cookie gets a session of their own.
   */
  const startOrJoin = async (previousId: string | undefined, record: SessionRecord): Promise<ActiveSession> => {
    const id = randomBytes(24).toString('base64url')
    if (previousId === undefined) return { id, ...await app.sessions.create(id, record) }
    const replaced = await app.sessions.replace(previousId, id, record)
    if (!('successor' in replaced)) return { id, ...replaced }
    // Other joiners may write at the same time: the versioned write is retried on a fresh read.
    for (let attempt = 0; attempt < 5; attempt++) {
      const joined = await app.sessions.load(replaced.successor)
      if (joined === null || ownerOf(joined.record.user) !== ownerOf(record.user)) break
      const updated = await app.sessions.update(replaced.successor, joined.version, { ...record, createdAt: joined.record.createdAt })
      if (updated !== null) return { id: replaced.successor, ...updated }
    }
    return { id, ...await app.sessions.create(id, record) }
  }
  app.decorateReply('renewSession', async function (this: FastifyReply) {
    const current = this.request.session
    if (current === undefined) return
    const id = randomBytes(24).toString('base64url')
    // The stored record, not the request's copy: a refresh during the request stored newer tokens.
    // The move is a compare-and-set, retried on a fresh read; a session ended meanwhile stays ended.
    for (let attempt = 0; attempt < 5; attempt++) {
      const latest = await app.sessions.load(current.id)
      if (latest === null) break
      const renewed = await app.sessions.renew(current.id, latest.version, id, latest.record)
      if (renewed !== null) {
        this.request.session = { id, ...renewed }
        setSessionCookie(this, this.request.session)
        return
      }
    }
    // Over, or never still long enough to move: ended. The cookie is left for the next request to
    // clear (the browser may hold a newer one by the time this answer arrives).
    await app.sessions.destroy(current.id)
    this.request.session = undefined
  })
  app.decorateReply('endSession', async function (this: FastifyReply) {
    const current = this.request.session
    if (current !== undefined) await app.sessions.destroy(current.id)
    this.request.session = undefined
    this.clearSessionCookie()
  })

  // Verifying a signature is an HMAC per request; a cookie once verified stays verified, so
  // the answers are remembered (only valid ones, a bounded number, oldest forgotten first).
  const verified = new Map<string, string>()
  const unsign = (request: FastifyRequest, cookie: string): string | null => {
    const known = verified.get(cookie)
    if (known !== undefined) return known
    const { valid, value } = request.unsignCookie(cookie)
    if (!valid || value === null) return null
    if (verified.size >= VERIFIED_COOKIES) verified.delete(verified.keys().next().value as string)
    verified.set(cookie, value)
    return value
  }

  /** The store read as a `session.load` span (tracing on): whether the cookie's session was found, never its id. */
  const loadTraced = async (id: string): Promise<LoadedSession | null> => await (tracing as NonNullable<typeof tracing>).inSpan('session.load', async (span) => {
    const loaded = await app.sessions.load(id)
    span.set('ejento_bff.session.found', loaded !== null)
    return loaded
  })

  app.addHook('onRequest', async (request, reply) => {
    const cookie = request.cookies[cookieName]
    if (cookie === undefined || cookie === '') return
    const value = unsign(request, cookie)
    if (value !== null) request.sessionCookieId = value
    const loaded = value === null ? null : tracing === undefined ? await app.sessions.load(value) : await loadTraced(value)
    if (loaded === null || value === null) {
      // Forged, or its session is over: have the browser forget it. Unless a log-in or a renewal
      // moved it to a new id moments ago: this request left before the browser had the new
      // cookie, and clearing now would erase that one.
      if (value === null || await app.sessions.successorOf(value) === null) reply.clearSessionCookie()
      return
    }
    const session: ActiveSession = { id: value, ...loaded }
    session.expiresAt = await app.sessions.touchIfDue(value, loaded.record, loaded.expiresAt)
    request.session = session
  })
}, { name: 'session', dependencies: ['session-store'] })

/** An onRequest hook for routes that need a logged-in session: 401 `not_authenticated` otherwise. */
export async function requireSession (request: FastifyRequest): Promise<void> {
  if (request.session === undefined) throw problems.notAuthenticated()
}
