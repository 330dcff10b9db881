import { randomInt, randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { changeOwnPassword, jsonDecodeError, listUsers, login, refresh, signup, stringField, updateUser } from '../auth-server.js'
import type { TokenPair } from '../auth-server.js'
import { parseJsonObject, route, sendJson } from '../http.js'
import type { HandlerContext, Route } from '../http.js'
import type { LoginFlags, SimUser, SimulatorState } from '../state.js'

const PREFIX = '/auth-service/api/v2'
/** A password-less log-in dies after this many wrong codes. */
const OTP_MAX_WRONG_TRIES = 5
const SSO_PROVIDERS = new Set(['google', 'microsoft'])
export const DEFAULT_LOGIN_FLAGS: LoginFlags = { password_login: true, passwordless_login: true, google_sso: true, microsoft_sso: true }

/**
 * Hosted Ejento's authentication service (v2): the guide's FastAPI app under a prefix, answering
 * tokens in `{success, message, data}` envelopes, plus password-less codes, feature flags and SSO.
 * Errors stay FastAPI's `{detail}`.
 */
export function v2AuthRoutes (state: SimulatorState): Route[] {
  const at = (path: string): RegExp => new RegExp(`^${PREFIX.replaceAll('/', '\\/')}${path}$`)
  return [
    route('POST', at('/users/signup'), (context) => signup(state, context)),
    route('POST', at('/login/access-token'), (context) => login(state, context, envelope('Login successful'))),
    // Strict rotation (the setting) as on the guide's server.
    route('POST', at('/users/refresh-access-token'), async (context) => await refresh(state, context, envelope('Token refreshed successfully'))),
    route('POST', at('/users/passwordless-auth'), (context) => passwordlessStart(state, context)),
    route('POST', at('/users/verify-otp'), (context) => passwordlessVerify(state, context)),
    route('GET', at('/feature-flags/logins'), ({ res }) => sendJson(res, 200, { success: true, message: 'Login feature flags', data: loginFlags(state) })),
    // A browser navigation: it cannot carry the gateway's key header.
    route('GET', at('/sso/([^/]+)/login'), (context) => ssoLogin(state, context), { keyless: true }),
    route('GET', at('/users/?'), (context) => listUsers(state, context)),
    route('PATCH', at('/users/me/password'), (context) => changeOwnPassword(state, context)),
    route('PATCH', at('/users/([^/]+)'), (context) => updateUser(state, context))
  ]
}

export function loginFlags (state: SimulatorState): LoginFlags {
  return { ...DEFAULT_LOGIN_FLAGS, ...state.settings.loginFlags }
}

function envelope (message: string): (pair: TokenPair) => unknown {
  return (pair) => ({ success: true, message, data: pair })
}

/** `next` + `?` or `&` + both tokens: where a magic link or an SSO log-in sends the browser. */
export function withTokens (next: string, pair: TokenPair): string {
  const tokens = new URLSearchParams({ token: pair.access_token, ejento_access_token: pair.ejento_access_token }).toString()
  return `${next}${next.includes('?') ? '&' : '?'}${tokens}`
}

function passwordlessStart (state: SimulatorState, { res, body }: HandlerContext): void {
  const input = parseJsonObject(body)
  if (input === null) return jsonDecodeError(res)
  const errors = [
    ...stringField(input, 'email', { min: 3, max: 255, email: true }),
    ...(input.next === undefined || input.next === null ? [] : stringField(input, 'next', { min: 1, max: 2048 }))
  ]
  if (errors.length > 0) return sendJson(res, 422, { detail: errors })
  forgetExpiredOtpSessions(state)
  const otpSessionId = randomUUID()
  const user = state.userByEmail(input.email as string)
  // The same answer for an unknown address (no account enumeration), but no session and no mail.
  if (user !== undefined && user.is_active) {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0')
    state.otpSessions.set(otpSessionId, { userId: user.id, code, expiresAt: Date.now() + state.settings.otpTtlMs, wrongTries: 0 })
    const next = typeof input.next === 'string' ? input.next : undefined
    state.sendMail({ to: user.email, code, ...(next === undefined ? {} : { magicLink: withTokens(next, state.tokenPair(user)) }), sentAt: Date.now() })
    state.count('passwordless_mail')
  }
  sendJson(res, 200, { success: true, message: 'Email sent', data: { otp_session_id: otpSessionId } })
}

function passwordlessVerify (state: SimulatorState, { res, body }: HandlerContext): void {
  const input = parseJsonObject(body)
  if (input === null) return jsonDecodeError(res)
  const errors = [...stringField(input, 'otp_session_id', { min: 1, max: 255 }), ...stringField(input, 'code', { min: 1, max: 64 })]
  if (errors.length > 0) return sendJson(res, 422, { detail: errors })
  const id = input.otp_session_id as string
  const pending = state.otpSessions.get(id)
  const user = pending === undefined ? undefined : state.users.get(pending.userId)
  if (pending === undefined || pending.expiresAt <= Date.now() || user === undefined || !user.is_active) {
    state.otpSessions.delete(id)
    return invalidCode(state, res)
  }
  if (pending.code !== input.code) {
    if (++pending.wrongTries >= OTP_MAX_WRONG_TRIES) state.otpSessions.delete(id)
    return invalidCode(state, res)
  }
  state.otpSessions.delete(id)
  state.count('passwordless_login')
  sendJson(res, 200, envelope('Login successful')(state.tokenPair(user)))
}

function invalidCode (state: SimulatorState, res: ServerResponse): void {
  state.count('passwordless_refused')
  sendJson(res, 400, { detail: 'Invalid or expired code' })
}

function forgetExpiredOtpSessions (state: SimulatorState): void {
  const now = Date.now()
  for (const [id, pending] of state.otpSessions) if (pending.expiresAt <= now) state.otpSessions.delete(id)
}

/** The IdP's pages are skipped: the browser comes straight back to `next` with the SSO user's tokens. */
function ssoLogin (state: SimulatorState, { res, params, url }: HandlerContext): void {
  const provider = params[0] as string
  if (!SSO_PROVIDERS.has(provider)) return sendJson(res, 404, { detail: 'Unknown SSO provider' })
  const next = url.searchParams.get('next')
  if (next === null || next === '') return sendJson(res, 422, { detail: [{ type: 'missing', loc: ['query', 'next'], msg: 'Field required', input: null }] })
  const user = ssoUser(state)
  if (!user.is_active) return sendJson(res, 400, { detail: 'Inactive user' })
  state.count('sso_login')
  res.writeHead(302, { location: withTokens(next, state.tokenPair(user)), 'content-length': 0 })
  res.end()
}

function ssoUser (state: SimulatorState): SimUser {
  const email = state.settings.ssoEmail
  return state.userByEmail(email) ?? state.addUser({ email, password: randomUUID(), full_name: null })
}
