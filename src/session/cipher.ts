import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { deriveKey } from '../secret-keys.js'

const FORMAT_VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_ID_BYTES = 4
const HEADER_BYTES = 1 + KEY_ID_BYTES + IV_BYTES

interface VaultKey {
  id: Buffer
  key: Buffer
}

/**
 * Encrypts session records at rest with AES-256-GCM. One key is derived from each
 * `SESSION_SECRET` entry (HKDF-SHA256, apart from the cookie-signing use of the same secret):
 * the first encrypts, all decrypt, as for the cookie. A record one instance writes is read by
 * every other only if they know its secret: a rotation first adds the new secret second
 * everywhere, and only then puts it first (README, "Secret rotation").
 * The session id is bound in as associated data, so a record moved to another id fails.
 *
 * Layout, base64url: version(1) | key id(4) | iv(12) | ciphertext | tag(16).
 */
export class SessionCipher {
  readonly #keys: VaultKey[]

  constructor (secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('SessionCipher needs at least one secret')
    this.#keys = secrets.map((secret) => {
      const key = deriveKey(secret, 'session-vault/aes-256-gcm/v1')
      return { key, id: createHash('sha256').update(key).digest().subarray(0, KEY_ID_BYTES) }
    })
  }

  encrypt (plaintext: string, sessionId: string): string {
    const { id, key } = this.#keys[0] as VaultKey
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    cipher.setAAD(Buffer.from(sessionId))
    const head = Buffer.allocUnsafe(HEADER_BYTES)
    head[0] = FORMAT_VERSION
    id.copy(head, 1)
    iv.copy(head, 1 + KEY_ID_BYTES)
    const body = cipher.update(plaintext, 'utf8')
    const tail = cipher.final()
    return Buffer.concat([head, body, tail, cipher.getAuthTag()]).toString('base64url')
  }

  /** The plaintext, or null when the blob is malformed, tampered with, or from a retired secret. */
  decrypt (blob: string, sessionId: string): string | null {
    const bytes = Buffer.from(blob, 'base64url')
    if (bytes.length < HEADER_BYTES + TAG_BYTES || bytes[0] !== FORMAT_VERSION) return null
    const keyId = bytes.subarray(1, 1 + KEY_ID_BYTES)
    const vaultKey = this.#keys.find((candidate) => candidate.id.equals(keyId))
    if (vaultKey === undefined) return null
    try {
      const decipher = createDecipheriv('aes-256-gcm', vaultKey.key, bytes.subarray(1 + KEY_ID_BYTES, HEADER_BYTES))
      decipher.setAAD(Buffer.from(sessionId))
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
      return decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES), undefined, 'utf8') + decipher.final('utf8')
    } catch {
      return null
    }
  }

  /** True when the blob was not encrypted with the current key, so the next write should re-encrypt it. */
  isStale (blob: string): boolean {
    const bytes = Buffer.from(blob.slice(0, 8), 'base64url')
    return !(this.#keys[0] as VaultKey).id.equals(bytes.subarray(1, 1 + KEY_ID_BYTES))
  }
}
