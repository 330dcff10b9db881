import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { HttpProblem, problems } from '../../errors.js'
import { parseTokenAnswer } from '../../tokens/token-set.js'
import type { PendingLoginCookie } from './pending-login-cookie.js'
import type { PendingLogins } from './pending-logins.js'
import { noContent, problemResponses } from '../responses.js'
import { problemWith, ssoCallbackQuery, ssoParams, ssoQuery } from './schemas.js'
import type { SsoCallbackQuery } from './schemas.js'
import { assertCookieTransport } from './transport.js'
import { startUserSession } from './user-session.js'

export interface SsoRouteOptions {
  cookieSecure: boolean
  defaultTokenLifetimeMs: number
  /** PUBLIC_URL: the callback's base and where the browser lands; else the request's own origin. */
  publicUrl: string | undefined
  pending: PendingLogins
  cookie: PendingLoginCookie
}

/** Longest path (with its query) a log-in may return to. */
const RETURN_TO_MAX = 2048
const BASE = 'http://return-to.invalid'

/**
 * SSO log-in, and the landing of password-less magic links. The browser goes to Ejento's SSO
 * with a `next` that brings it back to the callback with both tokens on the URL. A log-in CSRF
 * (an attacker's callback URL, holding the attacker's tokens, opened by a victim) is refused:
 * the callback must bring back the one-time `state` of a log-in this very browser started
 * (its pre-log-in cookie). The auth-app token is traded for a fresh pair at the authentication
 * server, and who-am-I names the user of that pair, before a session starts.
 * Tokens on a URL must go nowhere else: no Referer, no cache, no log line (logger.ts censors
 * every query value under /auth), and the browser leaves for a clean URL at once.
 */
export default async function ssoRoutes (app: FastifyInstance, options: SsoRouteOptions): Promise<void> {
  const { pending, cookie } = options
  const paths = app.upstreamPaths.auth

  /** Navigations: nothing here may be kept by a cache or passed on as a Referer. */
  const private_ = async (_request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store')
  }

  app.get<{ Params: { provider: string }, Querystring: { return_to?: string } }>('/sso/:provider', {
    schema: {
      tags: ['session'],
      summary: 'Log in with an SSO provider: 302 to Ejento\'s SSO, which comes back to /auth/sso/callback',
      params: ssoParams,
      querystring: ssoQuery,
      response: {
        302: noContent('To Ejento\'s SSO log-in for the provider (Location); sets the pre-log-in cookie'),
        ...problemResponses(429, 503),
        ...problemWith(400, 'validation_failed (an unsafe provider), invalid_return_to (not a path of this app), insecure_transport'),
        ...problemWith(501, 'not_supported (EJENTO_PATH_PROFILE=guide)')
      }
    },
    onRequest: [private_, async () => {
      if (paths.ssoLogin === undefined) throw problems.notSupported(app.upstreamPaths.name, 'SSO log-in')
    }],
    // Every start leaves a record in the store for 10 minutes: bounded per client address.
    preHandler: app.authRateLimit(() => undefined)
  }, async (request, reply) => {
    assertCookieTransport(request, options.cookieSecure)
    const returnTo = appPath(request.query.return_to)
    if (returnTo === null) throw new HttpProblem(400, 'invalid_return_to', 'return_to must be a path of this app, such as /chat.')
    const previous = cookie.read(request)
    if (previous !== undefined) await pending.take(previous)

    const state = randomBytes(24).toString('base64url')
    const id = randomBytes(24).toString('base64url')
    await pending.start(id, { kind: 'sso', state, returnTo })
    cookie.set(reply, id)
    const callback = `${options.publicUrl ?? ownOrigin(request)}/auth/sso/callback?state=${state}`
    const target = new URL(app.upstreams.auth.baseUrl.href.replace(/\/$/, '') + (paths.ssoLogin as (provider: string) => string)(request.params.provider))
    target.searchParams.set('next', callback)
    request.log.info({ provider: request.params.provider }, 'SSO log-in started')
    return await reply.redirect(target.href, 302)
  })

  app.get<{ Querystring: SsoCallbackQuery }>('/sso/callback', {
    schema: {
      tags: ['session'],
      summary: 'Where Ejento\'s SSO and magic links come back with both tokens: starts the session, 302 to a clean URL',
      querystring: ssoCallbackQuery,
      response: {
        302: noContent('To the app (the path the log-in started with), the session cookie set; or to /?login_error=<code>: sso_state_invalid, sso_tokens_invalid, sso_upstream_unavailable, sso_failed'),
        ...problemWith(501, 'not_supported (EJENTO_PATH_PROFILE=guide)')
      }
    },
    onRequest: [private_, async () => {
      if (paths.ssoLogin === undefined && paths.passwordlessStart === undefined) throw problems.notSupported(app.upstreamPaths.name, 'SSO log-in')
    }]
  }, async (request, reply) => {
    const base = options.publicUrl ?? ''
    const refuse = async (code: string): Promise<FastifyReply> => {
      request.log.info({ code }, 'SSO log-in refused')
      return await reply.redirect(`${base}/?login_error=${code}`, 302)
    }
    // Whatever happens next, this browser's log-in under way is over.
    const id = cookie.read(request)
    cookie.clear(reply)
    try {
      assertCookieTransport(request, options.cookieSecure)
      // Taken, not read: a state works once, also when a replay races the first use.
      const login = id === undefined ? null : await pending.take(id)
      if (login === null || !sameText(login.state, textOf(request.query.state))) return await refuse('sso_state_invalid')
      await pending.forgetEmail(id as string, login)
      const onUrl = parseTokenAnswer({ access_token: textOf(request.query.token), ejento_access_token: textOf(request.query.ejento_access_token) }, Date.now(), options.defaultTokenLifetimeMs)
      if (onUrl === null) return await refuse('sso_tokens_invalid')
      // Anyone can write this URL, and nothing here checks a token's signature: the user id
      // (the auth-app token's `sub`, the key of the user's sessions) is believed only from a
      // token the authentication server itself issued. The URL's is traded for a fresh pair,
      // as a refresh does; a forged one is refused.
      const fresh = await app.authApi.refresh(onUrl.authToken, request.id)
      if (fresh.statusCode >= 500 || fresh.statusCode === 408 || fresh.statusCode === 429) throw problems.upstreamError('authentication', fresh.statusCode)
      if (fresh.statusCode !== 200) return await refuse('sso_tokens_invalid')
      // No address of our own: who-am-I must name the user, or these tokens are not Ejento's.
      await startUserSession(app, request, reply, fresh.body, {
        method: login.kind,
        defaultTokenLifetimeMs: options.defaultTokenLifetimeMs
      })
      return await reply.redirect(`${base}${login.returnTo}`, 302)
    } catch (error) {
      request.log.warn({ code: (error as { code?: unknown }).code }, 'SSO log-in failed')
      return await refuse(failureCode(error))
    }
  })
}

/** What the page is told went wrong: never more than a code. */
function failureCode (error: unknown): string {
  const code = error instanceof HttpProblem ? error.code : ''
  if (code === 'tokens_invalid' || code === 'upstream_invalid_response') return 'sso_tokens_invalid'
  if (code.startsWith('upstream_')) return 'sso_upstream_unavailable'
  return 'sso_failed'
}

/**
 * A path of this app to land on after the log-in, or null: only a relative path (never
 * `//host`, `/\host` or a scheme, which browsers would take for another site, before or after
 * its dot segments are resolved), normalised, its fragment dropped.
 */
export function appPath (value: string | undefined): string | null {
  if (value === undefined || value === '') return '/'
  // eslint-disable-next-line no-control-regex
  if (!value.startsWith('/') || value.startsWith('//') || /[\\\x00-\x20\x7f]/.test(value) || value.length > RETURN_TO_MAX) return null
  let url: URL
  try {
    url = new URL(value, BASE)
  } catch {
    return null
  }
  // Dot segments are resolved only now: `/.//evil.example` is a path here, `//evil.example` there.
  if (url.origin !== BASE || url.pathname.startsWith('//')) return null
  return `${url.pathname}${url.search}`
}

/** A query parameter given once; a repeated one (an array) counts as absent. */
function textOf (value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function ownOrigin (request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}

function sameText (expected: string, given: string | undefined): boolean {
  if (given === undefined) return false
  const left = Buffer.from(expected)
  const right = Buffer.from(given)
  return left.length === right.length && timingSafeEqual(left, right)
}
