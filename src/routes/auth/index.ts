import formBody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import loginRoute from './login.js'
import logoutRoute from './logout.js'
import methodsRoute from './methods.js'
import passwordlessRoutes from './passwordless.js'
import { PendingLoginCookie } from './pending-login-cookie.js'
import { PendingLogins } from './pending-logins.js'
import refreshRoute from './refresh.js'
import sessionRoute from './session.js'
import sessionsRoutes from './sessions.js'
import signupRoute from './signup.js'
import ssoRoutes from './sso.js'

export interface AuthRoutesOptions {
  cookieSecure: boolean
  defaultTokenLifetimeMs: number
  /** The session cookie's name: the pre-log-in cookie is named after it. */
  cookieName: string
  /** SESSION_SECRET: seals log-ins under way in the store. */
  secrets: readonly string[]
  /** PUBLIC_URL, where Ejento's magic links and SSO come back to. */
  publicUrl: string | undefined
  /** Demo mode: GET /auth/methods says so. */
  demo: boolean
}

/** The session endpoints under /auth. */
export default async function authRoutes (app: FastifyInstance, options: AuthRoutesOptions): Promise<void> {
  // curl -d sends a form; the log-in accepts it besides JSON.
  await app.register(formBody)
  await app.register(signupRoute)
  const { cookieSecure, defaultTokenLifetimeMs, publicUrl } = options
  await app.register(loginRoute, { cookieSecure, defaultTokenLifetimeMs })
  await app.register(logoutRoute)
  await app.register(sessionRoute)
  await app.register(sessionsRoutes)
  await app.register(refreshRoute)
  await app.register(methodsRoute, { demo: options.demo })
  // Password-less and SSO log-ins span two requests, maybe on two instances: they wait in the session store.
  const pending = new PendingLogins(app.sessions.store, options.secrets)
  const cookie = new PendingLoginCookie(options.cookieName, cookieSecure)
  await app.register(passwordlessRoutes, { cookieSecure, defaultTokenLifetimeMs, publicUrl, pending, cookie })
  await app.register(ssoRoutes, { cookieSecure, defaultTokenLifetimeMs, publicUrl, pending, cookie })
}
