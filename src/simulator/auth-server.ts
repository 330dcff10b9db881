import type { ServerResponse } from 'node:http'
import { bearerToken, parseJsonObject, route, sendJson, sleep } from './http.js'
import type { HandlerContext, Route } from './http.js'
import { hashPassword, publicUser } from './state.js'
import type { SimUser, SimulatorState, TokenShape } from './state.js'

/**
 * The Ejento authentication server as the API access guide describes it: a FastAPI app with
 * `{"detail": ...}` errors, 422 validation errors that echo the input, and 403 for bad tokens.
 */
export function guideAuthRoutes (state: SimulatorState): Route[] {
  return [
    route('POST', /^\/api\/users\/signup$/, (context) => signup(state, context)),
    route('POST', /^\/api\/login\/access-token$/, (context) => login(state, context, (pair) => tokenAnswer(pair, state.settings.loginShape))),
    route('POST', /^\/api\/users\/refresh-access-token$/, async (context) => await refresh(state, context, (pair) => tokenAnswer(pair, state.settings.refreshShape))),
    route('GET', /^\/api\/users\/?$/, (context) => listUsers(state, context)),
    route('GET', /^\/api\/users\/me$/, (context) => withUser(state, context, (user) => sendJson(context.res, 200, publicUser(user)))),
    route('PATCH', /^\/api\/users\/me\/password$/, (context) => changeOwnPassword(state, context)),
    route('PATCH', /^\/api\/users\/([^/]+)$/, (context) => updateUser(state, context))
  ]
}

export function signup (state: SimulatorState, { res, body }: HandlerContext): void {
  const input = parseJsonObject(body)
  if (input === null) return jsonDecodeError(res)
  const errors = [
    ...stringField(input, 'email', { min: 3, max: 255, email: true }),
    ...stringField(input, 'password', { min: 8, max: 40 }),
    ...(input.full_name === undefined || input.full_name === null ? [] : stringField(input, 'full_name', { min: 0, max: 255 }))
  ]
  if (errors.length > 0) return sendJson(res, 422, { detail: errors })
  if (state.userByEmail(input.email as string) !== undefined) {
    return sendJson(res, 400, { detail: 'The user with this email already exists in the system' })
  }
  state.count('signup')
  const user = state.addUser({ email: input.email as string, password: input.password as string, full_name: (input.full_name as string | undefined) ?? null })
  sendJson(res, 200, publicUser(user))
}

export type TokenPair = { access_token: string, ejento_access_token: string }

/** The password log-in; `answer` shapes the token answer (flat or an envelope). */
export function login (state: SimulatorState, { res, req, body }: HandlerContext, answer: (pair: TokenPair) => unknown): void {
  const form = new URLSearchParams(req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') === true ? body.toString('utf8') : '')
  const errors = ['username', 'password']
    .filter((field) => !form.has(field))
    .map((field) => ({ type: 'missing', loc: ['body', field], msg: 'Field required', input: null }))
  if (errors.length > 0) return sendJson(res, 422, { detail: errors })
  const user = state.userByEmail(form.get('username') as string)
  if (user === undefined || user.passwordHash !== hashPassword(form.get('password') as string)) {
    state.count('login_failed')
    return sendJson(res, 400, { detail: 'Incorrect email or password' })
  }
  if (!user.is_active) return sendJson(res, 400, { detail: 'Inactive user' })
  state.count('login')
  sendJson(res, 200, answer(state.tokenPair(user)))
}

export async function refresh (state: SimulatorState, { req, res }: HandlerContext, answer: (pair: TokenPair) => unknown): Promise<void> {
  const verified = state.verifyToken(bearerToken(req), 'auth')
  if (verified === undefined) {
    state.count('refresh_refused')
    return sendJson(res, 403, { detail: 'Could not validate credentials' })
  }
  // Strict rotation: the token used here is dead from now on, so a second, racing refresh fails.
  if (state.settings.strictRotation) state.revoke(verified.claims.jti, verified.claims.expMs)
  state.count('refresh')
  const pair = state.tokenPair(verified.user)
  if (state.settings.refreshDelayMs > 0) await sleep(state.settings.refreshDelayMs)
  sendJson(res, 200, answer(pair))
}

export function listUsers (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, () => {
    const skip = Math.max(0, Number(context.url.searchParams.get('skip') ?? 0) || 0)
    const limit = Math.max(0, Number(context.url.searchParams.get('limit') ?? 100) || 100)
    const all = [...state.users.values()]
    sendJson(context.res, 200, { data: all.slice(skip, skip + limit).map(publicUser), count: all.length })
  })
}

export function changeOwnPassword (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, (user) => {
    const input = parseJsonObject(context.body)
    if (input === null) return jsonDecodeError(context.res)
    const errors = [...stringField(input, 'current_password', { min: 8, max: 40 }), ...stringField(input, 'new_password', { min: 8, max: 40 })]
    if (errors.length > 0) return sendJson(context.res, 422, { detail: errors })
    if (hashPassword(input.current_password as string) !== user.passwordHash) return sendJson(context.res, 400, { detail: 'Incorrect password' })
    if (input.current_password === input.new_password) return sendJson(context.res, 400, { detail: 'New password cannot be the same as the current one' })
    user.passwordHash = hashPassword(input.new_password as string)
    sendJson(context.res, 200, { message: 'Password updated successfully' })
  })
}

export function updateUser (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, (caller) => {
    if (!caller.is_superuser) return sendJson(context.res, 403, { detail: "The user doesn't have enough privileges" })
    const target = state.users.get(context.params[0] as string)
    if (target === undefined) return sendJson(context.res, 404, { detail: 'The user with this id does not exist in the system' })
    const input = parseJsonObject(context.body)
    if (input === null) return jsonDecodeError(context.res)
    const errors = [
      ...(input.email === undefined ? [] : stringField(input, 'email', { min: 3, max: 255, email: true })),
      ...(input.password === undefined ? [] : stringField(input, 'password', { min: 8, max: 40 })),
      ...(input.full_name === undefined || input.full_name === null ? [] : stringField(input, 'full_name', { min: 0, max: 255 })),
      ...['is_active', 'is_superuser'].filter((field) => input[field] !== undefined && typeof input[field] !== 'boolean')
        .map((field) => ({ type: 'bool_parsing', loc: ['body', field], msg: 'Input should be a valid boolean', input: input[field] }))
    ]
    if (errors.length > 0) return sendJson(context.res, 422, { detail: errors })
    if (typeof input.email === 'string') {
      const other = state.userByEmail(input.email)
      if (other !== undefined && other.id !== target.id) return sendJson(context.res, 409, { detail: 'User with this email already exists' })
      target.email = input.email.toLowerCase()
    }
    if (typeof input.password === 'string') target.passwordHash = hashPassword(input.password)
    if (input.full_name !== undefined) target.full_name = input.full_name as string | null
    if (typeof input.is_active === 'boolean') target.is_active = input.is_active
    if (typeof input.is_superuser === 'boolean') target.is_superuser = input.is_superuser
    sendJson(context.res, 200, publicUser(target))
  })
}

/** FastAPI's OAuth2 bearer dependency: 401 without a token, 403 with a bad one. */
export function withUser (state: SimulatorState, { req, res }: HandlerContext, handler: (user: SimUser) => void): void {
  const token = bearerToken(req)
  if (token === undefined) return sendJson(res, 401, { detail: 'Not authenticated' }, { 'www-authenticate': 'Bearer' })
  const verified = state.verifyToken(token, 'auth')
  if (verified === undefined) {
    state.count('auth_token_rejected')
    return sendJson(res, 403, { detail: 'Could not validate credentials' })
  }
  handler(verified.user)
}

function tokenAnswer (pair: TokenPair, shape: TokenShape): unknown {
  return shape === 'flat'
    ? { ...pair, token_type: 'bearer' }
    : { success: true, message: 'Token refreshed successfully', data: pair }
}

export function jsonDecodeError (res: ServerResponse): void {
  sendJson(res, 422, { detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {} }] })
}

/** A pydantic-style check of one string field; like pydantic, the error echoes the input. */
export function stringField (input: Record<string, unknown>, field: string, rule: { min: number, max: number, email?: boolean }): unknown[] {
  const value = input[field]
  const loc = ['body', field]
  if (value === undefined) return [{ type: 'missing', loc, msg: 'Field required', input }]
  if (typeof value !== 'string') return [{ type: 'string_type', loc, msg: 'Input should be a valid string', input: value }]
  if (value.length < rule.min) return [{ type: 'string_too_short', loc, msg: `String should have at least ${rule.min} characters`, input: value, ctx: { min_length: rule.min } }]
  if (value.length > rule.max) return [{ type: 'string_too_long', loc, msg: `String should have at most ${rule.max} characters`, input: value, ctx: { max_length: rule.max } }]
  if (rule.email === true && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
    return [{ type: 'value_error', loc, msg: 'value is not a valid email address: An email address must have an @-sign.', input: value }]
  }
  return []
}
