import { describe, expect, it } from 'vitest'
import { SimulatorState } from '../src/simulator/state.js'
import { readJwtClaims, tokenExpiresAt } from '../src/tokens/jwt.js'
import { needsRefresh, parseTokenAnswer, tokenSubject } from '../src/tokens/token-set.js'

const DAY = 86_400_000
const TWO_DAYS = 2 * DAY
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0)

/** An unsigned-looking JWT with these claims; the BFF reads claims without verifying. */
function jwt (claims: unknown, header: unknown = { alg: 'HS256', typ: 'JWT' }): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${encode(header)}.${encode(claims)}.c2lnbmF0dXJl`
}

const EXP = Math.floor(NOW / 1000) + 3600

describe('readJwtClaims', () => {
  it('reads exp, iat and sub', () => {
    expect(readJwtClaims(jwt({ exp: EXP, iat: EXP - 7200, sub: 'user-1', extra: true }))).toEqual({ exp: EXP, iat: EXP - 7200, sub: 'user-1' })
  })

  it('turns a numeric sub into a string', () => {
    expect(readJwtClaims(jwt({ sub: 42 }))?.sub).toBe('42')
  })

  it('ignores claims of the wrong type', () => {
    expect(readJwtClaims(jwt({ exp: '1700000000', iat: null, sub: { id: 1 } }))).toEqual({ exp: undefined, iat: undefined, sub: undefined })
  })

  it.each([
    ['an opaque token', 'opaque-token-without-dots'],
    ['two parts', 'aGVhZGVy.cGF5bG9hZA'],
    ['four parts', `${jwt({ exp: EXP })}.more`],
    ['a payload that is not JSON', `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('not json').toString('base64url')}.sig`],
    ['a payload that is an array', jwt([1, 2, 3])],
    ['a payload that is a number', jwt(1_700_000_000)],
    ['a payload that is null', jwt(null)],
    ['a huge payload', jwt({ exp: EXP, pad: 'p'.repeat(9000) })]
  ])('answers null for %s', (_name, token) => {
    expect(readJwtClaims(token)).toBeNull()
  })
})

describe('tokenExpiresAt', () => {
  it('reads exp from a JWT, in milliseconds', () => {
    expect(tokenExpiresAt(jwt({ exp: EXP, iat: EXP - 60 }), NOW, TWO_DAYS)).toBe(EXP * 1000)
  })

  it('trusts exp even when it is already past', () => {
    const past = Math.floor(NOW / 1000) - 10
    expect(tokenExpiresAt(jwt({ exp: past }), NOW, TWO_DAYS)).toBe(past * 1000)
  })

  it('gives a token that is not a JWT now plus the default lifetime', () => {
    expect(tokenExpiresAt('opaque-token', NOW, TWO_DAYS)).toBe(NOW + TWO_DAYS)
    expect(tokenExpiresAt('opaque-token', NOW, 7 * DAY)).toBe(NOW + 7 * DAY)
  })

  it('gives a JWT without exp but with iat its issue time plus the default lifetime', () => {
    const iat = Math.floor(NOW / 1000) - 3600
    expect(tokenExpiresAt(jwt({ iat, sub: 'u' }), NOW, TWO_DAYS)).toBe(iat * 1000 + TWO_DAYS)
  })

  it('gives a JWT with neither exp nor iat now plus the default lifetime', () => {
    expect(tokenExpiresAt(jwt({ sub: 'u' }), NOW, TWO_DAYS)).toBe(NOW + TWO_DAYS)
  })

  it('ignores an exp that is not a number', () => {
    const iat = Math.floor(NOW / 1000)
    expect(tokenExpiresAt(jwt({ exp: 'tomorrow', iat }), NOW, TWO_DAYS)).toBe(iat * 1000 + TWO_DAYS)
  })
})

describe('parseTokenAnswer', () => {
  const authToken = jwt({ exp: EXP, sub: 'user-1', typ: 'auth' })
  const ejentoToken = jwt({ exp: EXP + 60, sub: 'user-1', typ: 'ejento' })

  it('reads the flat shape', () => {
    expect(parseTokenAnswer({ access_token: authToken, ejento_access_token: ejentoToken, token_type: 'bearer' }, NOW, TWO_DAYS)).toMatchObject({
      authToken,
      authExpiresAt: EXP * 1000,
      ejentoToken,
      ejentoExpiresAt: (EXP + 60) * 1000
    })
  })

  it('reads the envelope shape', () => {
    expect(parseTokenAnswer({ success: true, message: 'Token refreshed successfully', data: { access_token: authToken, ejento_access_token: ejentoToken } }, NOW, TWO_DAYS)).toMatchObject({
      authToken,
      authExpiresAt: EXP * 1000,
      ejentoToken,
      ejentoExpiresAt: (EXP + 60) * 1000
    })
  })

  it('notes when the pair was obtained', () => {
    expect(parseTokenAnswer({ access_token: authToken, ejento_access_token: ejentoToken }, NOW, TWO_DAYS)?.obtainedAt).toBe(NOW)
  })

  it('prefers top-level tokens when an answer has both and a data field', () => {
    const set = parseTokenAnswer({ access_token: authToken, ejento_access_token: ejentoToken, data: { access_token: 'other', ejento_access_token: 'other' } }, NOW, TWO_DAYS)
    expect(set?.authToken).toBe(authToken)
  })

  it('gives opaque tokens the default lifetime from now', () => {
    expect(parseTokenAnswer({ access_token: 'opaque-auth', ejento_access_token: 'opaque-ejento' }, NOW, 7 * DAY)).toMatchObject({
      authToken: 'opaque-auth',
      authExpiresAt: NOW + 7 * DAY,
      ejentoToken: 'opaque-ejento',
      ejentoExpiresAt: NOW + 7 * DAY
    })
  })

  it('reads the pairs the simulator issues in every token format', () => {
    for (const tokenFormat of ['jwt', 'jwt-without-exp', 'opaque'] as const) {
      const state = new SimulatorState({ tokenFormat, authTokenTtl: 600, ejentoTokenTtl: 900 })
      const user = state.userByEmail('demo@example.com')
      if (user === undefined) throw new Error('no demo user')
      const before = Date.now()
      const set = parseTokenAnswer({ success: true, data: state.tokenPair(user) }, before, TWO_DAYS)
      expect(set, tokenFormat).not.toBeNull()
      if (tokenFormat === 'jwt') {
        // exp is in whole seconds.
        expect(Math.abs((set?.authExpiresAt ?? 0) - (before + 600_000))).toBeLessThanOrEqual(1000)
        expect(Math.abs((set?.ejentoExpiresAt ?? 0) - (before + 900_000))).toBeLessThanOrEqual(1000)
        expect(tokenSubject(set?.authToken ?? '')).toBe(user.id)
      } else {
        expect(Math.abs((set?.authExpiresAt ?? 0) - (before + TWO_DAYS))).toBeLessThanOrEqual(1000)
      }
    }
  })

  it.each([
    ['null', null],
    ['a string', 'access_token'],
    ['a number', 42],
    ['an array', [authToken, ejentoToken]],
    ['an empty object', {}],
    ['a FastAPI error', { detail: 'Incorrect email or password' }],
    ['an empty envelope', { success: true, data: {} }],
    ['an envelope whose data is null', { success: true, data: null }],
    ['no Ejento token', { access_token: authToken, token_type: 'bearer' }],
    ['no auth token', { ejento_access_token: ejentoToken }],
    ['an empty auth token', { access_token: '', ejento_access_token: ejentoToken }],
    ['an empty Ejento token in an envelope', { success: true, data: { access_token: authToken, ejento_access_token: '' } }],
    ['a numeric token', { access_token: 12345, ejento_access_token: ejentoToken }],
    ['a null token', { access_token: authToken, ejento_access_token: null }],
    ['an object token', { access_token: { value: authToken }, ejento_access_token: ejentoToken }],
    ['a token with a space', { access_token: 'abc def', ejento_access_token: ejentoToken }],
    ['a token with a newline', { access_token: authToken, ejento_access_token: `${ejentoToken}\r\nX-Injected: 1` }],
    ['a token with a tab', { access_token: `\t${authToken}`, ejento_access_token: ejentoToken }],
    ['a token with a non-ASCII character', { access_token: 'tokén', ejento_access_token: ejentoToken }],
    ['a token that is far too long', { access_token: 'a'.repeat(16_385), ejento_access_token: ejentoToken }]
  ])('answers null for %s', (_name, body) => {
    expect(parseTokenAnswer(body, NOW, TWO_DAYS)).toBeNull()
  })
})

describe('tokenSubject', () => {
  it('reads sub from a JWT', () => {
    expect(tokenSubject(jwt({ sub: '7b0f6c1e-uuid', exp: EXP }))).toBe('7b0f6c1e-uuid')
  })

  it('answers an integer sub as a string', () => {
    expect(tokenSubject(jwt({ sub: 17 }))).toBe('17')
  })

  it('answers undefined without a sub, and for a token that is not a JWT', () => {
    expect(tokenSubject(jwt({ exp: EXP }))).toBeUndefined()
    expect(tokenSubject('opaque-token')).toBeUndefined()
    expect(tokenSubject('a.b.c')).toBeUndefined()
  })

  // Every user with `sub: ""` shared one owner key: they could list and end each other's sessions.
  it('regression: answers undefined for an empty or blank sub', () => {
    expect(tokenSubject(jwt({ sub: '', exp: EXP }))).toBeUndefined()
    expect(tokenSubject(jwt({ sub: '  ', exp: EXP }))).toBeUndefined()
  })
})

describe('needsRefresh', () => {
  const pair = (authExpiresAt: number, ejentoExpiresAt: number, obtainedAt = NOW) => ({
    authToken: 'a', authExpiresAt, ejentoToken: 'e', ejentoExpiresAt, obtainedAt
  })

  it('refreshes once the earlier token is within the skew, not before', () => {
    const tokens = pair(NOW + 3_600_000, NOW + 7_200_000)
    expect(needsRefresh(tokens, NOW, 60_000)).toBe(false)
    expect(needsRefresh(tokens, NOW + 3_540_000 - 1, 60_000)).toBe(false)
    expect(needsRefresh(tokens, NOW + 3_540_000, 60_000)).toBe(true)
    expect(needsRefresh(tokens, NOW + 3_600_000 + 1, 60_000)).toBe(true)
  })

  it('looks at the Ejento token too', () => {
    const tokens = pair(NOW + 7_200_000, NOW + 30_000)
    expect(needsRefresh(tokens, NOW + 29_000, 60_000)).toBe(true)
  })

  it('caps the skew at half the lifetime, so short-lived tokens are not refreshed on every request', () => {
    const tokens = pair(NOW + 60_000, NOW + 60_000)
    expect(needsRefresh(tokens, NOW, 60_000)).toBe(false)
    expect(needsRefresh(tokens, NOW + 29_000, 60_000)).toBe(false)
    expect(needsRefresh(tokens, NOW + 30_000, 60_000)).toBe(true)
  })

  it('refreshes a pair that was already expired when obtained', () => {
    expect(needsRefresh(pair(NOW - 1000, NOW + 3_600_000), NOW, 60_000)).toBe(true)
  })
})
