import { randomUUID } from 'node:crypto'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exactPath, PROFILES } from '../helpers/profiles.js'
import { ask, expectedAnswer, expectNoTokenInPage, launchChromium, logIn, openPage, pageProblems, screenshot, signedIn, startBff } from './browser.js'
import type { Bff } from './browser.js'

// The browser globals the page functions below use (the project compiles without the DOM library).
interface PageElement { dataset: Record<string, string | undefined>, textContent: string | null, querySelector: (selector: string) => PageElement | null }
declare const document: { cookie: string, querySelector: (selector: string) => PageElement | null }

/** The threads created upstream (v2's list of conversations shares the path, with GET). */
function threadsCreated (bff: Bff, path: string): unknown[] {
  return bff.sim.requestsTo('api', exactPath(path)).filter((request) => request.method === 'POST')
}

describe.each(PROFILES)('the example chat page in Chromium on %s', (_name, profile) => {
  const v2 = profile.name === 'v2'
  const paths = profile.paths.api
  const shot = async (page: Parameters<typeof screenshot>[0], name: string): Promise<string> => await screenshot(page, `${profile.name}-${name}`)
  let browser: Browser
  beforeAll(async () => { browser = await launchChromium() })
  afterAll(async () => { await browser?.close() })

  it('signs up, logs in, shows who is logged in, picks an agent, asks in a new conversation (whose answer names its thread), streams the answer and logs out', async () => {
    const bff = await startBff({ profile, sim: { streamIntervalMs: 15 } })
    const browsing = await openPage(browser)
    const { page } = browsing

    const served = await page.goto(`${bff.url}/`)
    expect(served?.status()).toBe(200)
    expect(served?.headers()['content-type']).toMatch(/^text\/html/)
    const csp = served?.headers()['content-security-policy'] ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    await page.locator('#signed-out').waitFor()
    expect(await page.locator('#account').isVisible()).toBe(false)
    // The log-in methods this Ejento offers: the guide's passwords only; hosted Ejento (every flag on) codes and SSO too.
    const emailCode = page.getByRole('button', { name: 'E-mail me a code' })
    const sso = page.getByRole('group', { name: 'Log in with another account' }).getByRole('button')
    if (v2) {
      await emailCode.waitFor()
      expect(await sso.allInnerTexts()).toEqual(['Continue with Google', 'Continue with Microsoft'])
    } else {
      await page.waitForLoadState('networkidle')
      expect(await emailCode.isVisible()).toBe(false)
      expect(await sso.count()).toBe(0)
    }
    await shot(page, '01-logged-out')

    // Sign up: the account exists upstream, and the log-in form is ready for it.
    const email = `e2e-${randomUUID().slice(0, 8)}@example.com`
    await page.locator('#signup-name').fill('Page Tester')
    await page.locator('#signup-email').fill(email)
    await page.locator('#signup-password').fill('page-password-1')
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.locator('#notice').filter({ hasText: `Account created for ${email}` }).waitFor()
    expect(bff.sim.state.userByEmail(email)?.full_name).toBe('Page Tester')
    expect(await page.locator('#login-email').inputValue()).toBe(email)
    await shot(page, '02-signed-up')

    // A wrong password: the BFF's problem detail is shown, nobody is logged in.
    await page.locator('#login-password').fill('not-the-password')
    await page.getByRole('button', { name: 'Log in', exact: true }).click()
    await page.locator('#error:visible').waitFor()
    expect(await page.locator('#error').innerText()).toMatch(/password/i)
    expect(await page.locator('#signed-in').isVisible()).toBe(false)

    // The conversation list's first load: hosted Ejento's (empty yet); the guide's Ejento has none (501), hidden without a word.
    const listed = page.waitForResponse((response) => response.url().endsWith('/api/agents/1/chat-threads'))
    await logIn(page, email, 'page-password-1')
    // The full name Ejento knows (who-am-I), the e-mail on hover.
    expect(await page.locator('#who').innerText()).toBe('Signed in as Page Tester')
    expect(await page.locator('#who').getAttribute('title')).toBe(email)
    expect((await listed).status()).toBe(v2 ? 200 : 501)
    if (v2) await page.locator('#threads-status').filter({ hasText: 'No conversations with this agent yet.' }).waitFor()
    expect(await page.locator('#threads').isVisible()).toBe(v2)
    expect(await page.locator('#error').isVisible()).toBe(false)
    await shot(page, '03-logged-in')

    // The agents come from the profile's agent list through /proxy/ejento; pick the second one.
    expect(await page.locator('#agent option').allInnerTexts()).toEqual(['Demo Agent', 'Support Agent'])
    expect(bff.sim.requestsTo('api', exactPath(profile.agentsPath))).toHaveLength(1)
    await page.locator('#agent').selectOption({ label: 'Support Agent' })
    await page.locator('#agent-description').filter({ hasText: 'A second agent' }).waitFor()
    // A new conversation starts with its first question: nothing upstream before.
    await page.getByRole('button', { name: 'New conversation' }).click()
    expect(await page.locator('#thread').innerText()).toBe('')

    const question = 'What is Ejento?'
    expect(await ask(page, question)).toBe(expectedAnswer(question, 'Support Agent'))
    const asked = bff.sim.requestsTo('api', exactPath(paths.responseStream('2')))
    expect(asked).toHaveLength(1)
    expect(asked[0]?.headers.accept).toContain('text/event-stream')
    const sent = JSON.parse(asked[0]?.body.toString() ?? '{}') as Record<string, unknown>
    if (v2) {
      // Hosted Ejento starts the thread itself and names it after the question.
      expect(sent).toMatchObject({ user_query: question, chat_thread_id: null })
      expect(threadsCreated(bff, paths.chatThread('2'))).toHaveLength(0)
      await page.locator('#thread').filter({ hasText: `Conversation #1: ${question}` }).waitFor()
      const threads = page.getByRole('list', { name: 'Conversations' }).getByRole('listitem')
      await expect.poll(async () => await threads.allInnerTexts()).toEqual([expect.stringContaining(question)])
      expect(await threads.getByRole('button', { name: question, exact: true }).getAttribute('aria-current')).toBe('true')
    } else {
      // The guide's BFF created the thread before asking in it.
      expect(sent).toEqual({ user_query: question, chat_thread_id: 1 })
      expect(threadsCreated(bff, paths.chatThread('2'))).toHaveLength(1)
      await page.locator('#thread').filter({ hasText: /^Conversation #1$/ }).waitFor()
      expect(await page.locator('#threads').isVisible()).toBe(false)
    }
    expect(await page.locator('#messages .question .text').innerText()).toBe(question)
    await shot(page, '05-answer')

    await page.getByRole('button', { name: 'Log out' }).click()
    await page.locator('#signed-out').waitFor()
    await page.locator('#notice').filter({ hasText: 'You are logged out.' }).waitFor()
    expect(await page.locator('#account').isVisible()).toBe(false)
    expect(await page.locator('#messages li').count()).toBe(0)
    expect(await page.locator('#threads').isVisible()).toBe(false)
    await shot(page, '06-logged-out-again')

    await expectNoTokenInPage(bff, browsing)
    expect(pageProblems(browsing)).toEqual([])
  })

  it('keeps the session across a reload, in an HttpOnly cookie that scripts cannot read; after log-out a reload stays logged out', async () => {
    const bff = await startBff({ profile })
    const browsing = await openPage(browser)
    const { page, context } = browsing
    await page.goto(`${bff.url}/`)
    await logIn(page)
    expect(await page.locator('#who').innerText()).toBe('Signed in as Demo User')

    const cookies = await context.cookies(bff.url)
    const session = cookies.find((cookie) => cookie.name === bff.config.session.cookieName)
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' })
    expect(await page.evaluate(() => document.cookie)).not.toContain(bff.config.session.cookieName)

    await page.reload()
    await signedIn(page)
    await page.locator('#agent option').first().waitFor({ state: 'attached' })
    // Still the same session: the page works on without logging in again.
    expect(await ask(page, 'Still there?')).toBe(expectedAnswer('Still there?'))
    expect(bff.sim.requestsTo('auth', exactPath(profile.paths.auth.login))).toHaveLength(1)

    await page.getByRole('button', { name: 'Log out' }).click()
    await page.locator('#signed-out').waitFor()
    expect((await context.cookies(bff.url)).some((cookie) => cookie.name === bff.config.session.cookieName)).toBe(false)
    await page.reload()
    await page.locator('#signed-out').waitFor()
    expect(await page.locator('#signed-in').isVisible()).toBe(false)
    expect(await page.locator('#account').isVisible()).toBe(false)
    expect(await page.evaluate(async () => await (await fetch('/auth/session', { credentials: 'include' })).json())).toEqual({ authenticated: false })

    await expectNoTokenInPage(bff, browsing)
    expect(pageProblems(browsing)).toEqual([])
  })

  it('hides tokens that expire in the middle of a conversation: the next question just works', async () => {
    const bff = await startBff({ profile })
    const browsing = await openPage(browser)
    const { page } = browsing
    await page.goto(`${bff.url}/`)
    await logIn(page)

    expect(await ask(page, 'First question?')).toBe(expectedAnswer('First question?'))
    await page.locator('#thread').filter({ hasText: /^Conversation #1\b/ }).waitFor()
    const issuedBefore = bff.sim.state.issuedTokens.length
    bff.sim.expireTokens('ejento')

    expect(await ask(page, 'Second question?')).toBe(expectedAnswer('Second question?'))
    // Ejento refused the old token, the BFF refreshed both and retried; the page saw none of it.
    expect(bff.sim.counter('ejento_token_rejected')).toBeGreaterThanOrEqual(1)
    expect(bff.sim.requestsTo('auth', exactPath(profile.paths.auth.refresh))).toHaveLength(1)
    expect(bff.sim.state.issuedTokens.length).toBe(issuedBefore + 2)
    expect(await page.locator('#error').isVisible()).toBe(false)
    expect(await page.locator('#messages .answer[data-state="done"]').count()).toBe(2)
    // Asked in the same conversation.
    expect(await page.locator('#thread').innerText()).toMatch(/^Conversation #1\b/)
    const asked = bff.sim.requestsTo('api', exactPath(paths.responseStream('1'))).map((request) => JSON.parse(request.body.toString()) as { chat_thread_id: unknown })
    expect(asked.map((body) => body.chat_thread_id)).toEqual(v2 ? [null, 1, 1] : [1, 1, 1])
    await shot(page, '07-after-token-expiry')

    await expectNoTokenInPage(bff, browsing)
    expect(pageProblems(browsing)).toEqual([])
  })

  it('shows the answer progressively: its text grows event by event before the stream ends', async () => {
    const bff = await startBff({ profile, sim: { streamIntervalMs: 80 } })
    const browsing = await openPage(browser)
    const { page } = browsing
    await page.goto(`${bff.url}/`)
    await logIn(page)

    const question = 'How does streaming look?'
    await page.locator('#question').fill(question)
    await page.getByRole('button', { name: 'Send' }).click()

    // Watch the answer as a person would, recording each length it shows while streaming.
    const seen: Array<{ length: number, at: number }> = []
    let final: { state: string | undefined, text: string } | undefined
    let midStreamShot = false
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      const now = await page.evaluate(() => {
        const answer = document.querySelector('#messages .answer')
        return { state: answer?.dataset.state, text: answer?.querySelector('.text')?.textContent ?? '' }
      })
      if (now.state === 'done' || now.state === 'error') {
        final = now
        break
      }
      if (now.state === 'streaming' && now.text.length > 0 && now.text.length !== seen.at(-1)?.length) {
        seen.push({ length: now.text.length, at: Date.now() })
        if (!midStreamShot && seen.length >= 4) {
          midStreamShot = true
          await shot(page, '05-streaming')
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 15))
    }

    expect(final).toEqual({ state: 'done', text: expectedAnswer(question) })
    const lengths = seen.map((entry) => entry.length)
    expect(lengths.length).toBeGreaterThanOrEqual(5)
    // Growing only, seen at least four times short of the whole answer. (The last sample may be
    // whole: the last word arrives an event before the stream's end.)
    for (let i = 1; i < lengths.length; i++) expect(lengths[i]).toBeGreaterThan(lengths[i - 1] ?? 0)
    expect(lengths.filter((length) => length < expectedAnswer(question).length).length).toBeGreaterThanOrEqual(4)
    // The first words were on screen before Ejento even sent its last event.
    const upstream = bff.sim.requestsTo('api', exactPath(paths.responseStream('1')))[0]
    const endAt = upstream?.events.find((event) => event.event === 'end')?.at ?? 0
    expect(seen[0]?.at ?? Infinity).toBeLessThan(endAt)
    expect(pageProblems(browsing)).toEqual([])
  })

  it('shows the BFF\'s error line when the answer\'s stream breaks off, keeps what arrived, and the next question works', async () => {
    const bff = await startBff({ profile, sim: { streamIntervalMs: 5 } })
    const browsing = await openPage(browser)
    const { page } = browsing
    await page.goto(`${bff.url}/`)
    await logIn(page)
    expect(await ask(page, 'First question?')).toBe(expectedAnswer('First question?'))

    // Ejento drops the connection eight events into the next answer (a few words in, on either format).
    bff.sim.inject({ upstream: 'api', method: 'POST', path: exactPath(paths.responseStream('1')), dropStreamAfterEvents: 8 })
    await page.locator('#question').fill('Will this one break?')
    await page.getByRole('button', { name: 'Send' }).click()
    await page.locator('#error').filter({ hasText: 'The upstream stream ended unexpectedly.' }).waitFor()
    const broken = page.locator('#messages .answer').nth(1)
    expect(await broken.getAttribute('data-state')).toBe('error')
    const partial = await broken.locator('.text').innerText()
    expect(partial.length).toBeGreaterThan(0)
    expect(expectedAnswer('Will this one break?').startsWith(partial)).toBe(true)
    expect(await broken.locator('.votes').count()).toBe(0)
    await shot(page, '08-stream-broken')

    expect(await ask(page, 'And now?')).toBe(expectedAnswer('And now?'))
    expect(await page.locator('#error').isVisible()).toBe(false)
    expect(pageProblems(browsing)).toEqual([])
  })

  it('asks for an agent id when this Ejento does not list its agents, and chats with the one typed', async () => {
    const bff = await startBff({ profile, sim: { streamIntervalMs: 5 } })
    bff.sim.inject({ upstream: 'api', method: 'GET', path: profile.agentsPath, status: 404, body: v2 ? { success: false, message: 'Not found' } : { detail: 'Not Found' } })
    const browsing = await openPage(browser)
    const { page } = browsing
    await page.goto(`${bff.url}/`)
    await logIn(page)

    await page.locator('#agent-id').waitFor()
    expect(await page.locator('#agent').isVisible()).toBe(false)
    expect(await page.locator('#error').isVisible()).toBe(false)
    expect(await page.locator('#send').isDisabled()).toBe(true)
    await page.locator('#agent-id').fill('../2')
    expect(await page.locator('#send').isDisabled()).toBe(true)
    await page.locator('#agent-id').fill('2')
    expect(await page.locator('#send').isDisabled()).toBe(false)

    const question = 'Which agent answers when I type its id?'
    expect(await ask(page, question)).toBe(expectedAnswer(question, 'Support Agent'))
    // The guide's BFF creates the thread first; hosted Ejento starts it itself.
    expect(threadsCreated(bff, paths.chatThread('2'))).toHaveLength(v2 ? 0 : 1)
    expect(bff.sim.requestsTo('api', exactPath(paths.responseStream('2')))).toHaveLength(1)
    expect(pageProblems(browsing)).toEqual([])
  })
})
