import formBody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import loginRoute from './login.js'
import type { LoginRouteOptions } from './login.js'
import logoutRoute from './logout.js'
import methodsRoute from './methods.js'
import refreshRoute from './refresh.js'
import sessionRoute from './session.js'
import sessionsRoutes from './sessions.js'
import signupRoute from './signup.js'

/** The session endpoints under /auth. */
export default async function authRoutes (app: FastifyInstance, options: LoginRouteOptions): Promise<void> {
  // curl -d sends a form; the log-in accepts it besides JSON.
  await app.register(formBody)
  await app.register(signupRoute)
  const { cookieSecure, defaultTokenLifetimeMs } = options
  await app.register(loginRoute, { cookieSecure, defaultTokenLifetimeMs })
  await app.register(logoutRoute)
  await app.register(methodsRoute)
  await app.register(sessionRoute)
  await app.register(sessionsRoutes)
  await app.register(refreshRoute)
}
