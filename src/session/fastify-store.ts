import type { Session } from 'fastify'
import type { SessionStore as FastifySessionStore } from '@fastify/session'
import type { LoadedSession, SessionRepository } from './repository.js'

/** A write lost a race: the session changed or ended since this request read it. */
export class SessionConflictError extends Error {
  readonly code = 'SESSION_CONFLICT'
  constructor () {
    super('The session changed or ended while this request was using it')
    this.name = 'SessionConflictError'
  }
}

/**
 * Connects @fastify/session (callbacks, whole-session writes) to the repository (encrypted,
 * versioned records). Sessions without a user are never stored: an anonymous visitor costs
 * no store entry, and a session id only becomes real at log-in.
 */
export class FastifySessionStoreAdapter implements FastifySessionStore {
  readonly #sessions: SessionRepository

  constructor (sessions: SessionRepository) {
    this.#sessions = sessions
  }

  get (sessionId: string, callback: (error: unknown, session?: Session | null) => void): void {
    this.#sessions.load(sessionId).then(
      (loaded) => { callback(null, loaded === null ? null : this.#toSession(loaded)) },
      (error: unknown) => { callback(error) }
    )
  }

  set (sessionId: string, session: Session, callback: (error?: unknown) => void): void {
    const { user, tokens, createdAt, version } = session
    if (user === undefined || tokens === undefined || createdAt === undefined) {
      callback()
      return
    }
    const record = { user, tokens, createdAt }
    const write = version === undefined
      ? this.#sessions.create(sessionId, record)
      : this.#sessions.update(sessionId, version, record)
    write.then(
      (saved) => {
        if (saved === null) {
          callback(new SessionConflictError())
          return
        }
        session.version = saved.version
        session.storedExpiresAt = saved.expiresAt
        callback()
      },
      (error: unknown) => { callback(error) }
    )
  }

  destroy (sessionId: string, callback: (error?: unknown) => void): void {
    this.#sessions.destroy(sessionId).then(() => { callback() }, (error: unknown) => { callback(error) })
  }

  #toSession (loaded: LoadedSession): Session {
    const { record, version, expiresAt } = loaded
    return {
      // The cookie's expiry is the absolute lifetime; @fastify/session refuses a session past it.
      cookie: { originalMaxAge: null, expires: new Date(this.#sessions.absoluteExpiry(record)) },
      user: record.user,
      tokens: record.tokens,
      createdAt: record.createdAt,
      version,
      storedExpiresAt: expiresAt
    }
  }
}
