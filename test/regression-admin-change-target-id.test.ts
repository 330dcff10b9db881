import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { onCleanup } from './helpers/app.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (attack on issue 11): an admin's change of a user ended the sessions owned by the
 * id as the path spelled it, but sessions are owned by the tokens' `sub`, the upstream's own
 * spelling. FastAPI reads `C0FFEE00-...` as the uuid `c0ffee00-...` and `042` as the integer 42:
 * the upstream deactivated the user (or changed their password) and every session of theirs
 * lived on. The upstream's answer names the user it changed; that id is ended too.
 */

interface User { id: string | number, email: string, password: string, superuser: boolean }

const USERS: User[] = [
  { id: 'a0000000-0000-4000-8000-000000000001', email: 'admin@example.com', password: 'admin-password', superuser: true },
  { id: 'c0ffee00-0000-4000-8000-00000000beef', email: 'uuid@example.com', password: 'uuid-password', superuser: false },
  { id: 42, email: 'int@example.com', password: 'int-password', superuser: false },
  { id: 'plain-7', email: 'plain@example.com', password: 'plain-password', superuser: false }
]

/** A JWT as Ejento's look (the BFF reads `sub` and `exp` without verifying). */
function token (user: User, kind: string): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: user.id, typ: kind, exp: Math.floor(Date.now() / 1000) + 86_400 })}.signature`
}

/** FastAPI's reading of a path id: an integer when it is digits, a uuid in any case. */
function userAt (pathId: string): User | undefined {
  return USERS.find((user) => typeof user.id === 'number' ? /^\d+$/.test(pathId) && Number(pathId) === user.id : user.id === pathId.toLowerCase())
}

async function body (request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** An authentication server that reads user ids the way FastAPI does. `plain-7`'s update answers a body without the user. */
async function startAuthServer (): Promise<string> {
  const send = (response: ServerResponse, status: number, value: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))
  }
  const answer = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const text = await body(request)
    const url = new URL(request.url ?? '/', 'http://upstream')
    if (request.method === 'POST' && url.pathname === '/api/login/access-token') {
      const form = new URLSearchParams(text)
      const user = USERS.find((candidate) => candidate.email === form.get('username') && candidate.password === form.get('password'))
      if (user === undefined) return send(response, 400, { detail: 'Incorrect email or password' })
      return send(response, 200, { access_token: token(user, 'auth'), ejento_access_token: token(user, 'ejento'), token_type: 'bearer' })
    }
    const update = /^\/api\/users\/([^/]+)$/.exec(url.pathname)
    if (request.method === 'PATCH' && update !== null) {
      if (callerOf(request)?.superuser !== true) return send(response, 403, { detail: "The user doesn't have enough privileges" })
      const target = userAt(update[1] as string)
      if (target === undefined) return send(response, 404, { detail: 'The user with this id does not exist in the system' })
      if (target.id === 'plain-7') return send(response, 200, { message: 'updated' })
      return send(response, 200, { id: target.id, email: target.email, is_active: true, is_superuser: target.superuser, full_name: null })
    }
    send(response, 404, { detail: 'Not Found' })
  }
  const server = createServer((request, response) => {
    answer(request, response).catch(() => response.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** The user whose auth-app token the call carries (the `sub` in its claims). */
function callerOf (request: IncomingMessage): User | undefined {
  const claims = request.headers.authorization?.replace(/^Bearer /, '').split('.')[1]
  if (claims === undefined) return undefined
  const sub = (JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { sub?: unknown }).sub
  return USERS.find((user) => user.id === sub)
}

async function logIn (server: RealServer, user: User): Promise<string> {
  const response = await fetch(`${server.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: user.email, password: user.password }) })
  expect(response.status, await response.clone().text()).toBe(200)
  return (response.headers.getSetCookie()[0] as string).split(';')[0] as string
}

async function loggedIn (server: RealServer, cookie: string): Promise<boolean> {
  return ((await (await fetch(`${server.base}/auth/session`, { headers: { cookie } })).json()) as { authenticated: boolean }).authenticated
}

async function patchUser (server: RealServer, cookie: string, pathId: string, change: Record<string, unknown>): Promise<{ status: number, json: any }> {
  const response = await fetch(`${server.base}/api/users/${pathId}`, { method: 'PATCH', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify(change) })
  return { status: response.status, json: await response.json() }
}

describe('regression: an admin\'s change ends the sessions of the user the upstream changed, however the path spelled the id', () => {
  it('an upper-case uuid, an integer with a leading zero, and an answer without the user', { timeout: 60_000 }, async () => {
    const auth = await startAuthServer()
    const server = await startRealServer({ authUrl: auth, apiUrl: auth }, { AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' })
    const [admin, uuidUser, intUser, plainUser] = USERS as [User, User, User, User]
    const adminCookie = await logIn(server, admin)
    const uuidSessions = [await logIn(server, uuidUser), await logIn(server, uuidUser)]
    const intSession = await logIn(server, intUser)
    const plainSession = await logIn(server, plainUser)

    // A user who is no admin is refused upstream: nothing ends.
    const refused = await patchUser(server, intSession, String(uuidUser.id), { is_active: false })
    expect(refused.status).toBe(403)
    expect(await loggedIn(server, uuidSessions[0] as string)).toBe(true)

    const deactivated = await patchUser(server, adminCookie, String(uuidUser.id).toUpperCase(), { is_active: false })
    expect(deactivated.status).toBe(200)
    expect(deactivated.json).toMatchObject({ id: uuidUser.id, ended_sessions: 2 })
    for (const cookie of uuidSessions) expect(await loggedIn(server, cookie)).toBe(false)

    const reset = await patchUser(server, adminCookie, '042', { password: 'a-new-password-1' })
    expect(reset.status).toBe(200)
    expect(reset.json).toMatchObject({ id: 42, ended_sessions: 1 })
    expect(await loggedIn(server, intSession)).toBe(false)

    // An answer that does not name the user: the id as the path spelled it.
    const renamed = await patchUser(server, adminCookie, String(plainUser.id), { email: 'plain-2@example.com' })
    expect(renamed.status).toBe(200)
    expect(renamed.json).toMatchObject({ ended_sessions: 1 })
    expect(await loggedIn(server, plainSession)).toBe(false)

    expect(await loggedIn(server, adminCookie)).toBe(true)
  })
})
