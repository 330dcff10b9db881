import { createHmac, hkdfSync } from 'node:crypto'

/**
 * Every use of a SESSION_SECRET entry gets its own key, derived with HKDF-SHA256 under a
 * label that names the use: the cookie signer uses the secret itself, and nothing else
 * shares a key with it or with any other use.
 */
export function deriveKey (secret: string, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'ejento-bff', label, 32))
}

/**
 * A Redis key name for a value that must not be readable from it (an email, a user id):
 * HMAC-SHA256 under a derived key, 132 bits in base64url. An unsalted hash would let anyone
 * who reads Redis test candidate emails; this needs the secret.
 */
export function keyedName (key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url').slice(0, 22)
}
