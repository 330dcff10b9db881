import { SessionCipher } from '../../session/cipher.js'
import type { SessionStore } from '../../session/store.js'

/** How long a log-in may take between its start and its end: Ejento's codes live 10 minutes. */
export const PENDING_LOGIN_TTL_MS = 600_000

/** A log-in under way: started here, ended by a code (`/auth/passwordless/verify`) or by the callback. */
export interface PendingLogin {
  kind: 'passwordless' | 'sso'
  /** The one-time value the callback must bring back (SSO's `state`, and a magic link's). */
  state: string
  /** Where the browser lands after the callback: a path of the app. */
  returnTo: string
  /** Password-less: the address the code went to. */
  email?: string
  /** Password-less: Ejento's otp session. Absent when Ejento refused the address: then every code is wrong. */
  otpSessionId?: string
  /** Password-less: codes refused so far; at `MAX_WRONG_CODES` the log-in ends (a new code must be asked for). */
  wrongCodes?: number
  expiresAt: number
}

/** Wrong codes one pending log-in survives, whatever the rate limits allow: guessing stops here. */
export const MAX_WRONG_CODES = 5

const RECORD = 'pending-login:'
const BY_EMAIL = 'pending-login-email:'

/**
 * Log-ins under way, as transient records of the session store: every instance sees them, and
 * `take` hands one to a single taker. A record is sealed with the session cipher (the
 * otp_session_id is a secret), bound to its key; a password-less one is also findable by its
 * address, for a browser that lost its pre-log-in cookie.
 */
export class PendingLogins {
  readonly #store: SessionStore
  readonly #cipher: SessionCipher
  readonly #now: () => number

  constructor (store: SessionStore, secrets: readonly string[], now: () => number = Date.now) {
    this.#store = store
    this.#cipher = new SessionCipher(secrets)
    this.#now = now
  }

  /** Keeps a new log-in under `id` for PENDING_LOGIN_TTL_MS. */
  async start (id: string, login: Omit<PendingLogin, 'expiresAt'>): Promise<PendingLogin> {
    const started: PendingLogin = { ...login, expiresAt: this.#now() + PENDING_LOGIN_TTL_MS }
    await this.#put(RECORD + id, started, PENDING_LOGIN_TTL_MS)
    if (started.email !== undefined) await this.#put(BY_EMAIL + emailKey(started.email), { id }, PENDING_LOGIN_TTL_MS)
    return started
  }

  async get (id: string): Promise<PendingLogin | null> {
    return this.#open<PendingLogin>(RECORD + id, await this.#store.getTransient(RECORD + id))
  }

  /** Removes the log-in and answers it; of concurrent takers one gets it, the others null. */
  async take (id: string): Promise<PendingLogin | null> {
    return this.#open<PendingLogin>(RECORD + id, await this.#store.takeTransient(RECORD + id))
  }

  /** The latest password-less log-in started for this address, with its id. */
  async findByEmail (email: string): Promise<{ id: string, login: PendingLogin } | null> {
    const pointer = this.#open<{ id?: unknown }>(BY_EMAIL + emailKey(email), await this.#store.getTransient(BY_EMAIL + emailKey(email)))
    if (typeof pointer?.id !== 'string') return null
    const login = await this.get(pointer.id)
    return login === null ? null : { id: pointer.id, login }
  }

  /** Puts back a log-in a taker could not end (a wrong code), for the rest of its lifetime. */
  async restore (id: string, login: PendingLogin): Promise<void> {
    const left = login.expiresAt - this.#now()
    if (left > 0) await this.#put(RECORD + id, login, left)
  }

  /** Forgets a taken log-in's address entry, unless a later log-in for the address replaced it. */
  async forgetEmail (id: string, login: PendingLogin): Promise<void> {
    if (login.email === undefined) return
    const found = await this.findByEmail(login.email)
    if (found === null || found.id === id) await this.#store.deleteTransient(BY_EMAIL + emailKey(login.email))
  }

  async #put (key: string, value: unknown, ttlMs: number): Promise<void> {
    await this.#store.putTransient(key, this.#cipher.encrypt(JSON.stringify(value), key), ttlMs)
  }

  /** Null for nothing, for a record sealed under a retired secret or another key, and for a record past its lifetime. */
  #open<T extends object> (key: string, sealed: string | null): T | null {
    const plaintext = sealed === null ? null : this.#cipher.decrypt(sealed, key)
    if (plaintext === null) return null
    try {
      const value = JSON.parse(plaintext) as T & { expiresAt?: unknown }
      if (typeof value.expiresAt === 'number' && value.expiresAt <= this.#now()) return null
      return value
    } catch {
      return null
    }
  }
}

function emailKey (email: string): string {
  return email.trim().toLowerCase()
}
