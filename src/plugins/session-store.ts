import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { SessionCipher } from '../session/cipher.js'
import { SessionHandles } from '../session/handles.js'
import { SessionRepository } from '../session/repository.js'
import type { SessionLifetimes } from '../session/repository.js'
import type { SessionStore } from '../session/store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Encrypted, versioned session records in the configured store. */
    sessions: SessionRepository
    /** The opaque names of sessions in a user's list of them. */
    sessionHandles: SessionHandles
  }
}

export interface SessionStoreOptions extends SessionLifetimes {
  store: SessionStore
  secrets: readonly string[]
}

/** Makes the session store available app-wide (readiness, log-out everywhere) and closes it last. */
export default fp(async function sessionStore (app: FastifyInstance, options: SessionStoreOptions) {
  const { store, secrets, ...lifetimes } = options
  app.decorate('sessions', new SessionRepository(store, new SessionCipher(secrets), lifetimes))
  app.decorate('sessionHandles', new SessionHandles(secrets))
  app.addHook('onClose', async () => { await store.close() })
}, { name: 'session-store' })
