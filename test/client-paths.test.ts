import { beforeAll, describe, expect, it } from 'vitest'
import { BffError, ClientError } from '../client/src/index.js'
import type { BffClient } from '../client/src/index.js'
import { startSimulator } from '../src/simulator/index.js'
import type { Simulator } from '../src/simulator/index.js'
import { DEMO, onFileCleanup } from './helpers/app.js'
import { browser, collect, rejection } from './helpers/client-browser.js'
import { PROFILES } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Dot segments in the client's paths (F5, found attacking issue 13): fetch resolves `.` and `..`
 * (and `%2e`, and what its URL parser drops or reads as a slash) before the BFF sees the request,
 * so `proxy('ejento', '/api/../../auth/...')` would call the authentication server's
 * passthrough. The client refuses them unsent: ClientError `unsafe_path`.
 */
const ESCAPES: Array<`/${string}`> = [
  '/api/../../auth/api/users',
  '/api/agents/../../../auth/api/users',
  '/api/%2e%2e/%2E%2e/auth/api/users',
  '/api/.%2e/.%2E/auth/api/users',
  '/api/%2e./x',
  '/api/./agents',
  '/api/%2E/agents',
  '/api\\..\\..\\auth/api/users',
  '/api/.\t./.\n./auth/api/users',
  '/..',
  '/api/agents/.. ',
  '/api/..?skip=0'
]

describe.each(PROFILES)('the client refuses dot segments, against the compiled BFF, on %s', (_name, profile: TestProfile) => {
  let sim: Simulator
  let server: RealServer
  let client: BffClient
  const sent: string[] = []

  beforeAll(async () => {
    sim = await startSimulator(profile.sim)
    onFileCleanup(sim.close)
    server = await startRealServer(sim, { ...profile.env, AUTH_RATE_LIMIT_PER_IP: '1000' }, onFileCleanup)
    const tab = browser(server)
    // Every call the client makes, as the network sees it.
    const recording: typeof fetch = async (input, init) => {
      sent.push(new URL(String(input)).pathname)
      return await tab.jar.fetch(input, init)
    }
    client = browser(server, { fetch: recording }).client
    await client.login(DEMO)
  })

  it('is what fetch would do to these paths: leave the passthrough', () => {
    expect(new URL(`${server.base}/proxy/ejento/api/../../auth/api/users`).pathname).toBe('/proxy/auth/api/users')
    expect(new URL(`${server.base}/proxy/ejento/api/%2e%2e/%2E%2e/auth/api/users`).pathname).toBe('/proxy/auth/api/users')
    expect(new URL(`${server.base}/proxy/ejento/api\\..\\..\\auth/api/users`).pathname).toBe('/proxy/auth/api/users')
    expect(new URL(`${server.base}/proxy/ejento/api/.\t./.\n./auth/api/users`).pathname).toBe('/proxy/auth/api/users')
  })

  it('proxy() refuses a path with a dot segment, unsent, with ClientError unsafe_path', async () => {
    for (const path of ESCAPES) {
      const before = sent.length
      const failure = await rejection(client.proxy('ejento', path))
      expect(failure, JSON.stringify(path)).toBeInstanceOf(ClientError)
      expect(failure).toMatchObject({ name: 'ClientError', code: 'unsafe_path' })
      expect(sent.slice(before)).toEqual([])
    }
    expect(sim.requestsTo('auth').filter((request) => request.path === '/api/users')).toEqual([])
  })

  it('an id of "." or ".." in a named route is refused unsent; other ids go to the BFF', async () => {
    const before = sent.length
    const refusals = [
      client.chatThreadHistory('..'),
      client.renameChatThread('.', 'Renamed'),
      client.deleteChatThread('..'),
      client.updateUser('..', { full_name: 'Nobody' }),
      client.sendFeedback('.', 'upvote'),
      client.createChatThread('..'),
      client.endSession('..'),
      collect(client.ask('..', { user_query: 'Hello?' }))
    ]
    for (const refusal of refusals) expect(await rejection(refusal)).toMatchObject({ name: 'ClientError', code: 'unsafe_path' })
    expect(() => client.ssoUrl('..')).toThrow(expect.objectContaining({ code: 'unsafe_path' }))
    expect(sent.slice(before)).toEqual([])
    // `../1` is one encoded segment (`..%2F1`): sent, and refused by the BFF itself.
    const encoded = await rejection(client.chatThreadHistory('../1'))
    expect(encoded).toBeInstanceOf(BffError)
    expect(encoded).toMatchObject({ status: 400 })
  })

  it('dots that are no segment of their own, or in the query, are sent', async () => {
    const agents = await client.proxy<unknown>('ejento', `${profile.agentsPath}?next=../x` as `/${string}`)
    expect(JSON.stringify(agents)).toContain('Demo Agent')
    const before = sent.length
    const unknown = await rejection(client.proxy('ejento', '/api/agents/...x/a..b'))
    expect(unknown).toBeInstanceOf(BffError)
    expect(sent.slice(before)).toEqual(['/proxy/ejento/api/agents/...x/a..b'])
  })
})
