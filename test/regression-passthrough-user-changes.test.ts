import { describe, expect, it } from 'vitest'
import { startSimulator } from '../src/simulator/index.js'
import { ADMIN, DEMO, onCleanup } from './helpers/app.js'
import { realLogin, startRealServer } from './helpers/real-server.js'

// A password change or an admin's change of a user through the passthrough skipped the session
// ending the named routes do: the user's other sessions (a stolen cookie) stayed logged in.
describe('regression: a password or user change cannot go around the named routes', () => {
  it('PATCH and PUT of /users/me/password and /users/{id} are 403 on both passthroughs, however spelled; reading them is not', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const server = await startRealServer(sim, { AUTH_RATE_LIMIT_PER_IP: '100', AUTH_RATE_LIMIT_PER_ACCOUNT: '100' })
    const user = await realLogin(server.base, DEMO)
    const admin = await realLogin(server.base, ADMIN)
    const before = sim.requests.length

    const attempts: Array<[string, string, string]> = [
      [user, 'PATCH', '/proxy/auth/api/users/me/password'],
      [user, 'PUT', '/proxy/auth/api/users/me/password/'],
      [user, 'PATCH', '/proxy/auth/api/users/me/%70assword'],
      [user, 'PATCH', '/proxy/auth/api/USERS/me/password'],
      [admin, 'PATCH', '/proxy/auth/api/users/2'],
      [admin, 'PATCH', '/proxy/auth/api/users/%32'],
      [admin, 'PATCH', '/proxy/ejento/api/users/2']
    ]
    for (const [cookie, method, path] of attempts) {
      const answer = await fetch(`${server.base}${path}`, { method, headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ is_active: false, current_password: DEMO.password, new_password: 'other-password-9' }) })
      expect(answer.status, `${method} ${path}`).toBe(403)
      expect(await answer.json()).toMatchObject({ code: 'path_forbidden' })
    }
    expect(sim.requests.length).toBe(before)

    const read = await fetch(`${server.base}/proxy/auth/api/users/me`, { headers: { cookie: user } })
    expect(read.status).toBe(200)
    const listed = await fetch(`${server.base}/proxy/auth/api/users/?skip=0&limit=5`, { headers: { cookie: admin } })
    expect(listed.status).toBe(200)
  })
})
