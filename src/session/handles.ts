import { timingSafeEqual } from 'node:crypto'
import { deriveKey, keyedName } from '../secret-keys.js'

const HANDLE_LABEL = 'session-handle/hmac-sha256/v1'

/**
 * The name a user's list of sessions shows for each session: an HMAC of its id under a key of
 * its own, so it can be compared but never turned back into the id, nor into a cookie. The first
 * SESSION_SECRET names; every listed one is accepted, so a handle listed by an instance in the
 * middle of a rotation still works on the others.
 */
export class SessionHandles {
  readonly #keys: Buffer[]

  constructor (secrets: readonly string[]) {
    this.#keys = secrets.map((secret) => deriveKey(secret, HANDLE_LABEL))
  }

  of (sessionId: string): string {
    return keyedName(this.#keys[0] as Buffer, sessionId)
  }

  matches (handle: string, sessionId: string): boolean {
    const given = Buffer.from(handle)
    return this.#keys.some((key) => {
      const expected = Buffer.from(keyedName(key, sessionId))
      return expected.length === given.length && timingSafeEqual(expected, given)
    })
  }
}
