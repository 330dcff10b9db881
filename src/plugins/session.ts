import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { problems } from '../errors.js'
import { FastifySessionStoreAdapter } from '../session/fastify-store.js'
import type { SessionRecord } from '../session/record.js'

export interface SessionCookieOptions {
  cookieName: string
  cookieSecure: boolean
  /** First signs, all verify. */
  secrets: string[]
}

declare module 'fastify' {
  interface FastifyRequest {
    /** When this request's session ends unless used again (idle or absolute, whichever is first). */
    sessionExpiresAt: number | undefined
    /** The logged-in session's record, or undefined for an anonymous request. */
    sessionRecord: () => SessionRecord | undefined
  }
  interface FastifyReply {
    clearSessionCookie: () => FastifyReply
  }
}

/**
 * The browser side of a session: an HttpOnly, SameSite=Lax cookie holding only a signed,
 * opaque id (@fastify/session), backed by the encrypted store. Nothing is written on an
 * ordinary request: no rolling cookie, and the idle timeout is extended at most once a minute.
 */
export default fp(async function session (app: FastifyInstance, options: SessionCookieOptions) {
  const cookie = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: options.cookieSecure }
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret: options.secrets,
    cookieName: options.cookieName,
    cookie,
    rolling: false,
    saveUninitialized: false,
    store: new FastifySessionStoreAdapter(app.sessions)
  })

  app.decorateRequest('sessionExpiresAt', undefined)
  app.decorateRequest('sessionRecord', function (this: FastifyRequest) {
    const { user, tokens, createdAt } = this.session ?? {}
    return user === undefined || tokens === undefined || createdAt === undefined ? undefined : { user, tokens, createdAt }
  })
  app.decorateReply('clearSessionCookie', function (this: FastifyReply) {
    // Browsers only accept the clearing cookie with the same attributes (Secure for __Host-).
    return this.clearCookie(options.cookieName, cookie)
  })

  app.addHook('onRequest', async (request) => {
    const record = request.sessionRecord()
    const { sessionId, storedExpiresAt } = request.session ?? {}
    if (record === undefined || storedExpiresAt === undefined) return
    const idleExpiry = await app.sessions.touchIfDue(sessionId, record, storedExpiresAt)
    request.sessionExpiresAt = Math.min(idleExpiry, app.sessions.absoluteExpiry(record))
  })

  // The last word on the session cookie. @fastify/session clears a cookie whose signature is
  // not the current secret's (which would log everyone out at a secret rotation), and clears
  // stale cookies without the Secure attribute that browsers need to accept the clearing of a
  // __Host- cookie. Here a live session signed with an older secret gets its cookie re-signed,
  // and any clearing carries the cookie's own attributes; one Set-Cookie per answer at most.
  app.addHook('onSend', async (request, reply, payload) => {
    const record = request.sessionRecord()
    // Cookies are not parsed when an earlier hook refused the request.
    const sent = request.cookies?.[options.cookieName] as string | undefined
    const resign = record !== undefined && sent !== undefined && request.session.encryptedSessionId !== sent
    const header = reply.getHeader('set-cookie')
    if (header === undefined && !resign) return payload
    const lines = (Array.isArray(header) ? header : header === undefined ? [] : [String(header)])
    const prefix = `${options.cookieName}=`
    const others = lines.filter((line) => !line.startsWith(prefix))
    let ours = lines.filter((line) => line.startsWith(prefix)).at(-1)
    if (resign) {
      ours = app.serializeCookie(options.cookieName, request.session.encryptedSessionId, { ...cookie, expires: new Date(app.sessions.absoluteExpiry(record)) })
    } else if (ours?.startsWith(`${prefix};`) === true) {
      ours = app.serializeCookie(options.cookieName, '', { ...cookie, expires: new Date(0), maxAge: 0 })
    }
    const cookies = ours === undefined ? others : [...others, ours]
    reply.removeHeader('set-cookie')
    if (cookies.length > 0) reply.header('set-cookie', cookies)
    return payload
  })
}, { name: 'session', dependencies: ['session-store'] })

/** An onRequest hook for routes that need a logged-in session: 401 `not_authenticated` otherwise. */
export async function requireSession (request: FastifyRequest): Promise<void> {
  if (request.sessionRecord() === undefined) throw problems.notAuthenticated()
}
