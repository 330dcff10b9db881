import { beforeAll, describe, expect, it } from 'vitest'
import { BffError } from '../client/src/index.js'
import type { AskEvent } from '../client/src/index.js'
import { startSimulator } from '../src/simulator/index.js'
import type { RecordedRequest, Simulator } from '../src/simulator/index.js'
import { ADMIN, DEMO, onFileCleanup } from './helpers/app.js'
import { browser, collect, rejection } from './helpers/client-browser.js'
import { waitFor } from './helpers/processes.js'
import { PROFILES, exactPath } from './helpers/profiles.js'
import type { TestProfile } from './helpers/profiles.js'
import { startRealServer } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/** The text of an answer, put together from its events' deltas. */
function textOf (events: AskEvent[]): string {
  return events.map((event) => event.type === 'token' || event.type === 'assistant_stream' ? event.data.delta : '').join('')
}

/** The final answer's text, as its `end` event gives it. */
function finalAnswer (events: AskEvent[]): unknown {
  const end = events.find((event) => event.type === 'end')
  return end?.type === 'end' ? end.data.output.answer : undefined
}

describe.each(PROFILES)('the browser client against the compiled BFF, on %s', (_name, profile: TestProfile) => {
  let sim: Simulator
  let server: RealServer
  const responsePath = exactPath(profile.paths.api.response('1'))
  const streamPath = exactPath(profile.paths.api.responseStream('1'))
  const streamRecords = (): RecordedRequest[] => sim.requestsTo('api', streamPath).filter((record) => record.headers.accept?.includes('text/event-stream') === true)

  beforeAll(async () => {
    sim = await startSimulator({ ...profile.sim, streamIntervalMs: 20 })
    onFileCleanup(sim.close)
    // Many log-ins from one address in one minute: the rate limit is not what is tested here.
    server = await startRealServer(sim, { ...profile.env, AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '1000' }, onFileCleanup)
  })

  it('logs in with a password, knows the session and the log-in methods, and logs out', async () => {
    const { client, jar } = browser(server)
    expect(await client.session()).toEqual({ authenticated: false })
    const methods = await client.loginMethods()
    expect(methods.profile).toBe(profile.name)
    expect(methods.password).toBe(true)

    const login = await client.login(DEMO)
    expect(login.authenticated).toBe(true)
    expect(login.user?.email).toBe(DEMO.email)
    // The cookie stays in the jar, out of every answer the client hands over.
    expect(JSON.stringify(login)).not.toMatch(/token/i)
    expect(jar.names()).toHaveLength(1)
    const session = await client.session()
    expect(session).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    expect(Date.parse(session.expiresAt ?? '')).toBeGreaterThan(Date.now())

    await client.logout()
    expect(jar.names()).toEqual([])
    expect(await client.session()).toEqual({ authenticated: false })
    const afterwards = await rejection(client.users())
    expect(afterwards).toBeInstanceOf(BffError)
    expect(afterwards).toMatchObject({ status: 401, code: 'not_authenticated' })
    // Logging out again is fine.
    await client.logout()
  })

  it('streams an answer as typed events, in the order Ejento wrote them, and its text is the answer', async () => {
    const { client } = browser(server)
    await client.login(DEMO)
    const before = streamRecords().length
    const events = await collect(client.ask(1, { user_query: 'What is Ejento?', chat_thread_id: null }))
    const record = streamRecords()[before] as RecordedRequest
    expect(record.completed).toBe(true)

    // One typed event per event Ejento sent, in its order: the guide's names, v2's steps.
    const written = record.events.map((event) => event.event)
    expect(events.map((event) => event.type === 'status' ? event.data.step : event.type)).toEqual(written)
    expect(events.every((event) => event.format === profile.name)).toBe(true)
    if (profile.name === 'guide') {
      expect(written[0]).toBe('start')
      const start = events[0]
      expect(start?.type === 'start' && start.data.chat_thread_id).toBeTruthy()
    } else {
      expect(written).toContain('tools_stream')
      expect(written).toContain('reflection_end')
    }
    expect(events.at(-1)?.type).toBe('end')
    expect(textOf(events)).toBe(finalAnswer(events))
    expect(textOf(events)).toContain('What is Ejento?')
  })

  it('asks for JSON without a stream', async () => {
    const { client } = browser(server)
    await client.login(DEMO)
    const before = sim.requestsTo('api', responsePath).length
    const answer = await client.askJson(1, { user_query: 'All at once', chat_thread_id: null })
    expect(answer).toMatchObject({ success: true, data: { answer: expect.stringContaining('All at once') } })
    const record = sim.requestsTo('api', responsePath)[before] as RecordedRequest
    expect(record.headers.accept).not.toContain('text/event-stream')
  })

  it('aborts mid-stream: the loop ends with an AbortError and the BFF aborts its call to Ejento', async () => {
    const { client } = browser(server)
    await client.login(DEMO)
    sim.configure({ streamIntervalMs: 100 })
    try {
      const before = streamRecords().length
      const controller = new AbortController()
      const seen: AskEvent[] = []
      const failure = await rejection((async () => {
        for await (const event of client.ask(1, { user_query: 'Stop me' }, { signal: controller.signal })) {
          seen.push(event)
          if (seen.length === 2) controller.abort()
        }
      })())
      expect(failure).toMatchObject({ name: 'AbortError' })
      expect(seen).toHaveLength(2)
      const record = streamRecords()[before] as RecordedRequest
      expect(await waitFor(() => record.aborted, 3000)).toBe(true)
      expect(record.completed).toBe(false)
      expect(record.events.map((event) => event.event)).not.toContain('end')
    } finally {
      sim.configure({ streamIntervalMs: 20 })
    }
  })

  it('stops the answer upstream when the loop is left early (break)', async () => {
    const { client } = browser(server)
    await client.login(DEMO)
    sim.configure({ streamIntervalMs: 100 })
    try {
      const before = streamRecords().length
      let seen = 0
      for await (const event of client.ask(1, { user_query: 'Enough' })) {
        expect(event.format).toBe(profile.name)
        if (++seen === 2) break
      }
      const record = streamRecords()[before] as RecordedRequest
      expect(await waitFor(() => record.aborted, 3000)).toBe(true)
      expect(record.events.map((event) => event.event)).not.toContain('end')
    } finally {
      sim.configure({ streamIntervalMs: 20 })
    }
  })

  it("gives the BFF's own error event, in the stream's format, when Ejento's stream breaks off", async () => {
    const { client } = browser(server)
    await client.login(DEMO)
    sim.inject({ upstream: 'api', path: streamPath, dropStreamAfterEvents: 3 })
    const events = await collect(client.ask(1, { user_query: 'Break off' }))
    expect(events).toHaveLength(4)
    const last = events.at(-1)
    expect(last).toMatchObject({ format: profile.name, type: 'error', data: { code: 'upstream_stream_failed', message: expect.any(String) } })
    if (profile.name === 'v2') expect(last?.data).toMatchObject({ step: 'error' })
  })

  it('turns problems into BffError with their code, and passes Ejento\'s own errors on with their body', async () => {
    const { client } = browser(server)
    // A call that needs a session, without one.
    const anonymous = await rejection(client.createChatThread(1))
    expect(anonymous).toBeInstanceOf(BffError)
    expect(anonymous).toMatchObject({ status: 401, code: 'not_authenticated', problem: { status: 401, code: 'not_authenticated' } })
    expect((anonymous as BffError).requestId).toMatch(/.+/)

    const refused = await rejection(client.login({ email: DEMO.email, password: 'wrong-password' }))
    expect(refused).toMatchObject({ status: 401, code: 'invalid_credentials', detail: 'Incorrect email or password.' })

    await client.login(DEMO)
    // The BFF's validation: which field, and why, in the problem (and the message).
    const invalid = await rejection(client.renameChatThread(1, ''))
    expect(invalid).toMatchObject({ status: 400, code: 'validation_failed' })
    expect((invalid as BffError).problem?.errors?.length).toBeGreaterThan(0)
    expect((invalid as BffError).message).toContain('title')
    const unsafe = await rejection(client.chatThreadHistory('../1'))
    expect(unsafe).toMatchObject({ status: 400 })
    expect((unsafe as BffError).code).toEqual(expect.any(String))

    // Ejento's own refusal (an agent it does not have): its status and body, no code.
    const missing = await rejection(client.askJson(999, { user_query: 'Anyone?' }))
    expect(missing).toBeInstanceOf(BffError)
    expect(missing).toMatchObject({ status: 404, code: undefined, problem: undefined, body: { success: false, message: expect.any(String) } })
    expect((missing as BffError).detail).toBe(((missing as BffError).body as { message: string }).message)

    // A stream asked of an agent Ejento does not have fails before the first event.
    const missingStream = await rejection(collect(client.ask(999, { user_query: 'Anyone?' })))
    expect(missingStream).toMatchObject({ status: 404, code: undefined })

    // An admin-only change by a user: Ejento's FastAPI {detail}.
    const forbidden = await rejection(client.updateUser(2, { full_name: 'Someone Else' }))
    expect(forbidden).toMatchObject({ status: 403, code: undefined, detail: expect.any(String) })
  })

  it('aborts a JSON call with its signal', async () => {
    const { client } = browser(server)
    const controller = new AbortController()
    controller.abort()
    expect(await rejection(client.session({ signal: controller.signal }))).toMatchObject({ name: 'AbortError' })
  })

  it('lists, manages and ends sessions', async () => {
    const first = browser(server)
    const second = browser(server)
    await first.client.login(DEMO)
    await second.client.login(DEMO)
    const { sessions } = await first.client.sessions()
    const current = sessions.filter((session) => session.current)
    expect(current).toHaveLength(1)
    const other = sessions.find((session) => !session.current)
    expect(other).toBeDefined()
    await first.client.endOtherSessions()
    expect(await second.client.session()).toEqual({ authenticated: false })
    expect(await first.client.session()).toMatchObject({ authenticated: true })
    const unknown = await rejection(first.client.endSession('no-such-handle'))
    expect(unknown).toMatchObject({ status: 404, code: expect.any(String) })
    await first.client.logout()
  })

  it('lists users (the authentication server, the auth-app token) and goes through the passthrough', async () => {
    const { client } = browser(server)
    await client.login(ADMIN)
    const users = await client.users({ skip: 0, limit: 10 })
    expect(JSON.stringify(users)).toContain(DEMO.email)
    const agents = await client.proxy<{ data: Array<{ id: number, name: string }> }>('ejento', profile.agentsPath as `/${string}`)
    expect(agents.data.length).toBeGreaterThan(0)
    expect(agents.data[0]).toMatchObject({ id: expect.anything(), name: expect.any(String) })
  })

  if (profile.name === 'guide') {
    it('answers 501 not_supported as a BffError for what the guide\'s Ejento lacks, and starts threads itself', async () => {
      const { client } = browser(server)
      await client.login(DEMO)
      const calls = [() => client.chatThreads(1), () => client.chatThreadHistory(1), () => client.deleteChatThread(1), () => client.sendFeedback(1, 'upvote'), () => client.startPasswordless({ email: DEMO.email })]
      for (const call of calls) expect(await rejection(call())).toMatchObject({ status: 501, code: 'not_supported' })
      const created = await client.createChatThread(1)
      expect(JSON.stringify(created)).toMatch(/"id"/)
      const sso = await fetch(client.ssoUrl('google'), { redirect: 'manual' })
      expect(sso.status).toBe(501)
    })
  } else {
    it('keeps conversations: list, history, rename, vote and delete', async () => {
      const { client } = browser(server)
      await client.login(DEMO)
      const question = `Conversation ${Date.now()}`
      const events = await collect(client.ask(1, { user_query: question, chat_thread_id: null }))
      const end = events.at(-1)
      if (end?.type !== 'end' || end.format !== 'v2') throw new Error('the stream did not end with its answer')
      const threadId = end.data.output.thread_id as number
      const responseId = end.data.output.agent_response_id as number

      const listed = await client.chatThreads(1)
      expect(JSON.stringify(listed)).toContain(question)
      const history = await client.chatThreadHistory(threadId)
      expect(JSON.stringify(history)).toContain(question)
      const renamed = await client.renameChatThread(threadId, 'Renamed by the client')
      expect(renamed).toMatchObject({ success: true, data: { title: 'Renamed by the client' } })
      const vote = await client.sendFeedback(responseId, 'upvote')
      expect(vote).toMatchObject({ success: true, data: { vote_type: 'upvote' } })
      await client.deleteChatThread(threadId)
      expect(JSON.stringify(await client.chatThreads(1))).not.toContain('Renamed by the client')
      expect(await rejection(client.chatThreadHistory(threadId))).toMatchObject({ status: 404, code: undefined })
    })

    it('logs in with an e-mailed code', async () => {
      const { client } = browser(server)
      expect(await client.startPasswordless({ email: DEMO.email })).toEqual({ sent: true })
      const code = sim.lastMail(DEMO.email)?.code as string
      expect(await rejection(client.verifyPasswordless({ code: code === '000000' ? '111111' : '000000' }))).toMatchObject({ status: 401, code: 'invalid_code' })
      const login = await client.verifyPasswordless({ code })
      expect(login).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
      expect(await client.session()).toMatchObject({ authenticated: true })
    })

    it('logs in through SSO from the URL it gives, the browser following the redirects', async () => {
      const { client, jar } = browser(server)
      let url = client.ssoUrl('google', { returnTo: '/after-sso' })
      expect(url).toBe(`${server.base}/auth/sso/google?return_to=%2Fafter-sso`)
      for (let hop = 0; hop < 5 && !url.endsWith('/after-sso'); hop++) {
        const answer = await jar.fetch(url, { redirect: 'manual' })
        expect(answer.status).toBe(302)
        url = new URL(answer.headers.get('location') ?? '', url).href
      }
      expect(url).toBe(`${server.base}/after-sso`)
      expect(await client.session()).toMatchObject({ authenticated: true, user: { email: DEMO.email } })
    })
  }
})
