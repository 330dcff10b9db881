import type { Browser, Locator, Page, Request } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exactPath, V2 } from '../helpers/profiles.js'
import { ask, expectedAnswer, expectNoTokenInPage, launchChromium, logIn, openPage, pageProblems, screenshot, signedIn, startBff } from './browser.js'
import type { Bff } from './browser.js'

// The browser globals the page functions below use (the project compiles without the DOM library).
interface Observed { textContent: string | null }
declare const window: { history: { length: number }, statuses: string[] }
declare const document: { referrer: string, querySelector: (selector: string) => Observed | null }
declare const sessionStorage: { getItem: (key: string) => string | null, length: number }
declare const performance: { getEntriesByType: (type: string) => Array<{ name: string }> }
declare class MutationObserver {
  constructor (callback: () => void)
  observe (target: Observed, options: { subtree: boolean, childList: boolean, characterData: boolean }): void
}

const paths = V2.paths.api

/** The page's list of conversations, entry by entry. */
function conversations (page: Page): Locator {
  return page.getByRole('list', { name: 'Conversations' }).getByRole('listitem')
}

/** The titles listed, once the list shows `count` of them. */
async function listed (page: Page, count: number): Promise<string[]> {
  const entries = conversations(page)
  await expect.poll(async () => await entries.count(), { timeout: 10_000 }).toBe(count)
  return await entries.locator('button.open').allInnerTexts()
}

/** Which vote each answer on screen shows as chosen ('' for none). */
async function chosenVotes (page: Page): Promise<string[]> {
  return await page.locator('#messages .answer').evaluateAll((answers) => answers.map((answer) =>
    answer.querySelector('.votes button[aria-pressed="true"]')?.getAttribute('data-vote') ?? ''))
}

describe('hosted Ejento (v2) through the example page in Chromium', () => {
  let browser: Browser
  beforeAll(async () => { browser = await launchChromium() })
  afterAll(async () => { await browser?.close() })

  it('shows a streamed answer\'s thought process, references and follow-ups, votes, brings the conversation back after a reload, renames and deletes conversations', { timeout: 90_000 }, async () => {
    const bff = await startBff({ profile: V2, sim: { streamIntervalMs: 40 } })
    const browsing = await openPage(browser)
    const { page } = browsing
    await page.goto(`${bff.url}/`)
    await logIn(page)
    expect(await page.locator('#who').innerText()).toBe('Signed in as Demo User')
    await page.locator('#threads-status').filter({ hasText: 'No conversations with this agent yet.' }).waitFor()

    // Every status line the answer shows while it streams (they come and go between events).
    await page.evaluate(() => {
      window.statuses = []
      const messages = document.querySelector('#messages') as Observed
      new MutationObserver(() => {
        const status = document.querySelector('#messages .answer .status')?.textContent ?? ''
        if (status !== '' && window.statuses.at(-1) !== status) window.statuses.push(status)
      }).observe(messages, { subtree: true, childList: true, characterData: true })
    })
    const question = 'What is Ejento?'
    expect(await ask(page, question)).toBe(expectedAnswer(question))
    expect(await page.evaluate(() => window.statuses)).toEqual(['Reflection complete'])
    const first = page.locator('#messages .answer').first()
    expect(await first.locator('.status').isVisible()).toBe(false)

    // The thought process: collapsed, opened on request.
    const thoughts = first.locator('details.thoughts')
    expect(await thoughts.getAttribute('open')).toBeNull()
    expect(await first.locator('.thought-text').isVisible()).toBe(false)
    await thoughts.getByText('Thought process').click()
    expect(await first.locator('.thought-text').innerText()).toBe('Searching the knowledge base of Demo Agent.')

    // References: numbered links, opened elsewhere without a referrer.
    const references = first.getByRole('list', { name: 'References' }).getByRole('listitem')
    expect(await references.count()).toBe(1)
    expect(await references.first().getAttribute('value')).toBe('1')
    const link = references.first().getByRole('link', { name: 'https://example.com/kb' })
    expect(await link.getAttribute('href')).toBe('https://example.com/kb')
    expect(await link.getAttribute('target')).toBe('_blank')
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer')

    // The new conversation: asked with chat_thread_id null, named by Ejento after the question.
    expect(await listed(page, 1)).toEqual([question])
    await page.locator('#thread').filter({ hasText: `Conversation #1: ${question}` }).waitFor()
    await screenshot(page, 'hosted-01-answer')

    // A follow-up question is a button that asks it, in the same conversation.
    const followUp = first.getByRole('group', { name: 'Follow-up questions' }).getByRole('button', { name: 'What else can you do?' })
    await followUp.click()
    await page.locator('#messages .answer[data-state="done"]').nth(1).waitFor()
    expect(await page.locator('#messages .question .text').allInnerTexts()).toEqual([question, 'What else can you do?'])
    expect(await page.locator('#messages .answer .text').allInnerTexts()).toEqual([expectedAnswer(question), expectedAnswer('What else can you do?')])
    // Follow-ups are offered under the latest answer only.
    expect(await first.locator('.followups').count()).toBe(0)
    expect(await page.getByRole('group', { name: 'Follow-up questions' }).count()).toBe(1)
    const asked = bff.sim.requestsTo('api', exactPath(paths.responseStream('1'))).map((request) => JSON.parse(request.body.toString()) as Record<string, unknown>)
    expect(asked.map((body) => [body.user_query, body.chat_thread_id])).toEqual([[question, null], ['What else can you do?', 1]])
    expect(await listed(page, 1)).toEqual([question])

    // Thumbs up, then down on the first answer; thumbs up on the second: each shows the choice, Ejento keeps it.
    const votesOf = (answer: Locator): Locator => answer.getByRole('group', { name: 'Rate this answer' })
    const second = page.locator('#messages .answer').nth(1)
    await votesOf(first).getByRole('button', { name: 'Helpful', exact: true }).click()
    await first.locator('.votes button[data-vote="upvote"][aria-pressed="true"]').waitFor()
    expect(bff.sim.state.agentResponses.get(1)?.feedback.map((vote) => vote.vote_type)).toEqual(['upvote'])
    await votesOf(first).getByRole('button', { name: 'Not helpful' }).click()
    await first.locator('.votes button[data-vote="downvote"][aria-pressed="true"]').waitFor()
    await votesOf(second).getByRole('button', { name: 'Helpful', exact: true }).click()
    await second.locator('.votes button[data-vote="upvote"][aria-pressed="true"]').waitFor()
    expect(await chosenVotes(page)).toEqual(['downvote', 'upvote'])
    expect(bff.sim.state.agentResponses.get(1)?.feedback.map((vote) => vote.vote_type)).toEqual(['downvote'])
    expect(bff.sim.state.agentResponses.get(2)?.feedback.map((vote) => vote.vote_type)).toEqual(['upvote'])
    const votes = bff.sim.requestsTo('api', /^\/api\/v2\/agent-responses\/\d+\/feedbacks$/).map((request) => [request.path, JSON.parse(request.body.toString())])
    expect(votes).toEqual([
      [paths.feedback?.('1'), { vote_type: 'upvote' }],
      [paths.feedback?.('1'), { vote_type: 'downvote' }],
      [paths.feedback?.('2'), { vote_type: 'upvote' }]
    ])
    await screenshot(page, 'hosted-02-follow-up-and-votes')

    // After a reload: the list, and the conversation last opened with its answers and votes.
    await page.reload()
    await signedIn(page)
    expect(await listed(page, 1)).toEqual([question])
    await page.locator('#messages .answer').nth(1).waitFor()
    expect(await page.locator('#messages .question .text').allInnerTexts()).toEqual([question, 'What else can you do?'])
    expect(await page.locator('#messages .answer .text').allInnerTexts()).toEqual([expectedAnswer(question), expectedAnswer('What else can you do?')])
    expect(await page.locator('#messages .answer[data-state="done"]').count()).toBe(2)
    expect(await chosenVotes(page)).toEqual(['downvote', 'upvote'])
    expect(await page.getByRole('list', { name: 'References' }).count()).toBe(2)
    expect(await page.getByRole('group', { name: 'Follow-up questions' }).count()).toBe(1)
    expect(await page.locator('#thread').innerText()).toBe(`Conversation #1: ${question}`)
    expect(await conversations(page).getByRole('button', { name: question, exact: true }).getAttribute('aria-current')).toBe('true')
    // All the page kept to come back: two ids.
    expect(await page.evaluate(() => sessionStorage.length)).toBe(1)
    expect(JSON.parse(await page.evaluate(() => sessionStorage.getItem('ejento-bff.conversation')) ?? 'null')).toEqual({ agentId: '1', threadId: '1' })
    await screenshot(page, 'hosted-03-after-reload')

    // A second conversation joins the list, newest first; the first one opens again from the list.
    await page.getByRole('button', { name: 'New conversation' }).click()
    expect(await page.locator('#messages li').count()).toBe(0)
    expect(await ask(page, 'Another topic?')).toBe(expectedAnswer('Another topic?'))
    expect(await listed(page, 2)).toEqual(['Another topic?', question])
    await conversations(page).getByRole('button', { name: question, exact: true }).click()
    await page.locator('#thread').filter({ hasText: `Conversation #1: ${question}` }).waitFor()
    await expect.poll(async () => await page.locator('#messages .question .text').allInnerTexts()).toEqual([question, 'What else can you do?'])

    // Rename the open conversation in place.
    await conversations(page).getByRole('button', { name: `Rename “${question}”` }).click()
    const title = page.getByRole('textbox', { name: `New title for “${question}”` })
    expect(await title.inputValue()).toBe(question)
    await title.fill('Ejento, the basics')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.locator('#notice').filter({ hasText: 'Renamed the conversation to “Ejento, the basics”.' }).waitFor()
    expect(await listed(page, 2)).toEqual(['Ejento, the basics', 'Another topic?'])
    expect(bff.sim.state.threads.get(1)?.title).toBe('Ejento, the basics')
    expect(await page.locator('#thread').innerText()).toBe('Conversation #1: Ejento, the basics')
    await screenshot(page, 'hosted-04-renamed')

    // Delete asks first: dismissed, nothing happens; accepted, the conversation is gone, here and upstream.
    const remove = conversations(page).getByRole('button', { name: 'Delete “Ejento, the basics”' })
    page.once('dialog', (dialog) => { dialog.dismiss().catch(() => {}) })
    await remove.click()
    expect(bff.sim.requestsTo('api', exactPath(paths.thread?.('1') ?? '')).filter((request) => request.method === 'DELETE')).toHaveLength(0)
    page.once('dialog', (dialog) => {
      expect(dialog.message()).toContain('Ejento, the basics')
      dialog.accept().catch(() => {})
    })
    await remove.click()
    await page.locator('#notice').filter({ hasText: 'Deleted the conversation “Ejento, the basics”.' }).waitFor()
    expect(await listed(page, 1)).toEqual(['Another topic?'])
    expect(bff.sim.state.threads.has(1)).toBe(false)
    expect(await page.locator('#messages li').count()).toBe(0)
    expect(await page.locator('#thread').innerText()).toBe('')

    // The deleted conversation is not reopened after a reload.
    await page.reload()
    await signedIn(page)
    expect(await listed(page, 1)).toEqual(['Another topic?'])
    expect(await page.locator('#messages li').count()).toBe(0)
    expect(await page.locator('#error').isVisible()).toBe(false)

    await expectNoTokenInPage(bff, browsing)
    expect(pageProblems(browsing)).toEqual([])
  })

  it('logs in with a code Ejento e-mails (read from the simulator\'s outbox): an unknown address is answered alike, a wrong code refused', { timeout: 60_000 }, async () => {
    const bff = await startBff({ profile: V2 })
    const browsing = await openPage(browser)
    const { page, context } = browsing
    await page.goto(`${bff.url}/`)
    const sendCode = page.getByRole('button', { name: 'E-mail me a code' })
    await sendCode.waitFor()
    const codeField = page.getByRole('textbox', { name: 'Code from the e-mail' })
    expect(await codeField.isVisible()).toBe(false)

    // An address Ejento does not know: the same answer, and no mail.
    await page.locator('#login-email').fill('nobody@example.com')
    await sendCode.click()
    await page.locator('#notice').filter({ hasText: 'If nobody@example.com has an account, a log-in code is on its way there.' }).waitFor()
    expect(bff.sim.lastMail('nobody@example.com')).toBeUndefined()

    await page.locator('#login-email').fill('demo@example.com')
    await sendCode.click()
    await page.locator('#notice').filter({ hasText: 'If demo@example.com has an account, a log-in code is on its way there.' }).waitFor()
    const mail = bff.sim.lastMail('demo@example.com')
    expect(mail?.code).toMatch(/^\d{6}$/)
    expect(await codeField.isVisible()).toBe(true)
    // The password-less log-in's id stays server-side: the browser has only an HttpOnly cookie for it.
    const pending = (await context.cookies(`${bff.url}/auth/passwordless/verify`)).find((cookie) => cookie.name === `${bff.config.session.cookieName}-login`)
    expect(pending).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/auth' })
    await screenshot(page, 'hosted-05-code-sent')

    const wrong = String((Number(mail?.code) + 1) % 1_000_000).padStart(6, '0')
    await codeField.fill(wrong)
    await page.getByRole('button', { name: 'Log in with the code' }).click()
    await page.locator('#error:visible').waitFor()
    expect(await page.locator('#signed-in').isVisible()).toBe(false)
    expect(await codeField.isVisible()).toBe(true)

    await codeField.fill(mail?.code ?? '')
    await page.getByRole('button', { name: 'Log in with the code' }).click()
    await signedIn(page)
    expect(await page.locator('#who').innerText()).toBe('Signed in as Demo User')
    expect(bff.sim.counter('passwordless_login')).toBe(1)
    const session = (await context.cookies(bff.url)).find((cookie) => cookie.name === bff.config.session.cookieName)
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' })
    expect(await ask(page, 'Logged in by code?')).toBe(expectedAnswer('Logged in by code?'))

    // The code and the log-in's id never reached the page's storage or a page address.
    expect(browsing.visited.every((url) => url === `${bff.url}/`)).toBe(true)
    expect(JSON.stringify(await page.evaluate(() => sessionStorage.getItem('ejento-bff.conversation')))).not.toContain(mail?.code)
    await expectNoTokenInPage(bff, browsing)
    expect(pageProblems(browsing)).toEqual([])
  })

  it('logs in with the SSO button end to end: the BFF takes the tokens off the callback address, the page sees only a clean one', { timeout: 60_000 }, async () => {
    const bff = await startBff({ profile: V2 })
    const browsing = await openPage(browser)
    const { page } = browsing
    await page.goto(`${bff.url}/`)
    const providers = page.getByRole('group', { name: 'Log in with another account' }).getByRole('button')
    await providers.first().waitFor()
    expect(await providers.allInnerTexts()).toEqual(['Continue with Google', 'Continue with Microsoft'])
    await screenshot(page, 'hosted-06-log-in-methods')

    // Every document request of the top frame, redirects included.
    const navigations: Request[] = []
    page.on('request', (request) => {
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) navigations.push(request)
    })
    await page.getByRole('button', { name: 'Continue with Google' }).click()
    await signedIn(page)
    expect(await page.locator('#who').innerText()).toBe('Signed in as Demo User')
    expect(page.url()).toBe(`${bff.url}/`)

    // The chain: the BFF's SSO start, Ejento's SSO, the BFF's callback with the tokens, the clean page.
    const chain = navigations.map((request) => new URL(request.url()))
    expect(chain.map((url) => `${url.origin}${url.pathname}`)).toEqual([
      `${bff.url}/auth/sso/google`,
      `${bff.sim.authUrl}${V2.paths.auth.ssoLogin?.('google') ?? ''}`,
      `${bff.url}/auth/sso/callback`,
      `${bff.url}/`
    ])
    expect(chain[0]?.searchParams.get('return_to')).toBe('/')
    const callback = navigations[2]
    expect(new URL(callback?.url() ?? '').searchParams.get('token')).toEqual(expect.any(String))
    const answered = await callback?.response()
    expect(answered?.status()).toBe(302)
    expect(answered?.headers()['referrer-policy']).toBe('no-referrer')
    expect(answered?.headers()['cache-control']).toContain('no-store')
    expect(new URL(answered?.headers().location ?? '', bff.url).href).toBe(`${bff.url}/`)
    expect(chain[3]?.search).toBe('')

    // The page itself only ever showed clean addresses; nothing came with a referrer.
    expect(browsing.visited).toEqual([`${bff.url}/`, `${bff.url}/`])
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').map((entry) => entry.name))).toEqual([`${bff.url}/`])
    expect(await page.evaluate(() => document.referrer)).toBe('')
    expect(bff.sim.counter('sso_login')).toBe(1)
    expect(await ask(page, 'Logged in by SSO?')).toBe(expectedAnswer('Logged in by SSO?'))
    // The history holds the tab's blank start, the page before the click and the one after: walk back through it.
    expect(await page.evaluate(() => window.history.length)).toBe(3)
    await page.goBack()
    expect(page.url()).toBe(`${bff.url}/`)
    await page.goBack()
    expect(page.url()).toBe('about:blank')
    await page.goForward()
    await page.goForward()
    expect(page.url()).toBe(`${bff.url}/`)
    await signedIn(page)
    await expectNoTokenInPage(bff, browsing)
    expect(pageProblems(browsing)).toEqual([])
  })

  it('shows a refused SSO log-in (?login_error=) once and takes it off the address', async () => {
    const bff: Bff = await startBff({ profile: V2 })
    const browsing = await openPage(browser)
    const { page } = browsing
    // A callback whose state this browser never started (a forged or replayed link): refused, tokens unused.
    await page.goto(`${bff.url}/auth/sso/callback?state=forged&token=not-a-token&ejento_access_token=not-either`)
    await page.locator('#error').filter({ hasText: 'That log-in link has expired or was already used. Please log in again.' }).waitFor()
    expect(page.url()).toBe(`${bff.url}/`)
    expect(browsing.visited).toEqual([`${bff.url}/?login_error=sso_state_invalid`, `${bff.url}/`])
    // The tab's blank start and this page: the refused address was replaced, not added.
    expect(await page.evaluate(() => window.history.length)).toBe(2)
    expect(await page.locator('#signed-out').isVisible()).toBe(true)
    await screenshot(page, 'hosted-07-login-error')

    // A reload does not show it again.
    await page.reload()
    await page.locator('#signed-out').waitFor()
    await page.waitForLoadState('networkidle')
    expect(await page.locator('#error').isVisible()).toBe(false)

    // A code the page does not know is shown as such, whatever it says.
    await page.goto(`${bff.url}/?login_error=${encodeURIComponent('<b>x</b>')}`)
    await page.locator('#error').filter({ hasText: /^Logging in did not work\. Please try again\.$/ }).waitFor()
    expect(page.url()).toBe(`${bff.url}/`)
    expect(pageProblems(browsing)).toEqual([])
  })
})
