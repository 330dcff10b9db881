import { createHmac, timingSafeEqual } from 'node:crypto'

/** HS256 JWTs, enough for the simulator to issue and check its own tokens. */
export function signJwt (claims: Record<string, unknown>, key: Buffer): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
  const signature = createHmac('sha256', key).update(`${header}.${payload}`).digest('base64url')
  return `${header}.${payload}.${signature}`
}

export function verifyJwt (token: string, key: Buffer): Record<string, unknown> | null {
  const [header, payload, signature, extra] = token.split('.')
  if (header === undefined || payload === undefined || signature === undefined || extra !== undefined) return null
  const expected = createHmac('sha256', key).update(`${header}.${payload}`).digest()
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    return typeof claims === 'object' && claims !== null ? claims as Record<string, unknown> : null
  } catch {
    return null
  }
}
