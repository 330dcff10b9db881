import { randomUUID } from 'node:crypto'
import type { Browser, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exactPath, PROFILES } from '../helpers/profiles.js'
import { ask, expectedAnswer, expectNoTokenInPage, launchChromium, logIn, openPage, pageProblems, PHONE, screenshot, signedIn, startBff } from './browser.js'

// The browser globals the page functions below use (the project compiles without the DOM library).
interface Box { top: number, left: number, right: number, width: number }
interface PageElement { textContent: string | null, clientWidth: number, options: ArrayLike<{ textContent: string | null }> }
declare const window: { innerWidth: number, getComputedStyle: (element: PageElement) => Record<string, string> }
declare const document: {
  documentElement: { scrollWidth: number }
  createRange: () => { selectNodeContents: (element: PageElement) => void, getClientRects: () => ArrayLike<Box> }
  createElement: (tag: 'canvas') => { getContext: (kind: '2d') => { font: string, measureText: (text: string) => { width: number } } }
}
declare const sessionStorage: { length: number, key: (index: number) => string | null, getItem: (key: string) => string | null }

/** How many lines an element's text takes on screen. */
async function linesOf (locator: Locator): Promise<number> {
  return await locator.evaluate((element: PageElement) => {
    const range = document.createRange()
    range.selectNodeContents(element)
    return new Set([...Array.from(range.getClientRects())].filter((box) => box.width > 0).map((box) => Math.round(box.top))).size
  })
}

/** The options of a <select> whose text is wider than the box shows (its padding and arrow aside). */
async function cutOptions (select: Locator): Promise<string[]> {
  return await select.evaluate((element: PageElement) => {
    const style = window.getComputedStyle(element)
    const context = document.createElement('canvas').getContext('2d')
    context.font = style.font ?? ''
    // Chromium's arrow and its gap take about 20 px of the box.
    const room = element.clientWidth - parseFloat(style.paddingLeft ?? '0') - parseFloat(style.paddingRight ?? '0') - 20
    return Array.from(element.options).map((option) => option.textContent ?? '').filter((text) => context.measureText(text).width > room)
  })
}

/** The page's sessionStorage, key by key. */
async function storage (page: Page): Promise<Record<string, unknown>> {
  return await page.evaluate(() => {
    const entries: Record<string, unknown> = {}
    for (let index = 0; index < sessionStorage.length; index++) {
      const key = sessionStorage.key(index) ?? ''
      entries[key] = JSON.parse(sessionStorage.getItem(key) ?? 'null')
    }
    return entries
  })
}

/** The conversation on screen: each message's role and text. */
async function onScreen (page: Page): Promise<Array<[string, string]>> {
  return await page.locator('#messages .message').evaluateAll((items) => items.map((item) =>
    [item.classList.contains('question') ? 'question' : 'answer', item.querySelector('.text')?.textContent ?? ''] as [string, string]))
}

describe.each(PROFILES)('the example page, as a newcomer finds it, on %s', (_name, profile) => {
  const v2 = profile.name === 'v2'
  const paths = profile.paths.api
  let browser: Browser
  beforeAll(async () => { browser = await launchChromium() })
  afterAll(async () => { await browser?.close() })

  it('on a phone (390 px): the demo account hinted in demo mode, "Log out" on one line, the agents\' whole names, nothing wider than the screen; Enter sends, Shift+Enter starts a new line; a reload keeps the conversation', { timeout: 60_000 }, async () => {
    const bff = await startBff({ profile, demo: true, sim: { streamIntervalMs: 5 } })
    const browsing = await openPage(browser, { viewport: PHONE })
    const { page } = browsing
    const methods = page.waitForResponse((response) => response.url().endsWith('/auth/methods'))
    await page.goto(`${bff.url}/`)
    await page.locator('#signed-out').waitFor()
    // Demo mode says so (GET /auth/methods), and only then is the demo account shown.
    expect(await (await methods).json()).toMatchObject({ profile: profile.name, demo: true })
    await page.locator('#demo-hint').filter({ hasText: 'Demo mode: demo@example.com / demo-password' }).waitFor()
    expect(await linesOf(page.locator('#demo-hint code').last())).toBe(1)
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true)
    await screenshot(page, `${profile.name}-09-phone-logged-out`)

    await logIn(page)
    await page.locator('#agent option').first().waitFor({ state: 'attached' })
    for (const name of ['Your sessions', 'Log out']) {
      const button = page.getByRole('button', { name, exact: true })
      expect(await button.isVisible()).toBe(true)
      expect(await linesOf(button), `"${name}" wraps`).toBe(1)
    }
    expect(await page.locator('#agent option').allInnerTexts()).toEqual(['Demo Agent', 'Support Agent'])
    expect(await cutOptions(page.locator('#agent'))).toEqual([])
    expect(await linesOf(page.getByRole('button', { name: 'New conversation' }))).toBe(1)

    // Shift+Enter: a new line in the question, nothing sent.
    const question = page.locator('#question')
    await question.click()
    await question.pressSequentially('First line')
    await question.press('Shift+Enter')
    await question.pressSequentially('second line?')
    expect(await question.inputValue()).toBe('First line\nsecond line?')
    expect(await page.locator('#messages .message').count()).toBe(0)
    // Enter: sent, as the Send button does.
    await question.press('Enter')
    const firstAnswer = page.locator('#messages .answer[data-state="done"]').first()
    await firstAnswer.waitFor()
    expect(await firstAnswer.locator('.text').innerText()).toBe(expectedAnswer('First line\nsecond line?'))
    expect(await question.inputValue()).toBe('')
    expect(bff.sim.requestsTo('api', exactPath(paths.responseStream('1')))).toHaveLength(1)
    expect(await ask(page, 'And a second question?')).toBe(expectedAnswer('And a second question?'))
    await page.locator('#thread').filter({ hasText: /^Conversation #1\b/ }).waitFor()
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true)
    await screenshot(page, `${profile.name}-10-phone-conversation`)

    const before = await onScreen(page)
    expect(before.map(([role]) => role)).toEqual(['question', 'answer', 'question', 'answer'])
    if (!v2) {
      // The guide's Ejento gives no conversation back: the page keeps ids and the text shown, nothing else.
      expect(await storage(page)).toEqual({
        'ejento-bff.conversation': { agentId: '1', threadId: '1' },
        'ejento-bff.transcript': { agentId: '1', threadId: 1, messages: before.map(([role, text]) => ({ role, text })) }
      })
    }

    await page.reload()
    await signedIn(page)
    expect(await page.locator('#who').innerText()).toBe('Signed in as Demo User')
    // v2 from Ejento's history of the thread, the guide's from the tab's storage: the same on screen.
    await expect.poll(async () => await onScreen(page)).toEqual(before)
    await page.locator('#thread').filter({ hasText: /^Conversation #1\b/ }).waitFor()
    // And the conversation goes on in its thread.
    expect(await ask(page, 'Still the same conversation?')).toBe(expectedAnswer('Still the same conversation?'))
    const threads = bff.sim.requestsTo('api', exactPath(paths.responseStream('1'))).map((request) => (JSON.parse(request.body.toString()) as { chat_thread_id: unknown }).chat_thread_id)
    expect(threads).toEqual(v2 ? [null, 1, 1] : [1, 1, 1])
    expect((await onScreen(page)).length).toBe(6)

    // Log-out forgets the conversation: another user of this tab sees none of it.
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.locator('#signed-out').waitFor()
    expect(await storage(page)).toEqual({})
    await logIn(page)
    await page.locator('#agent option').first().waitFor({ state: 'attached' })
    if (v2) await page.locator('#threads').waitFor()
    expect(await page.locator('#messages .message').count()).toBe(0)

    await expectNoTokenInPage(bff, browsing)
    expect(pageProblems(browsing)).toEqual([])
  })

  it('outside demo mode no demo account is hinted; a refused sign-up shows its error in the sign-up card; the full name given at sign-up shows after log-in and after a reload', async () => {
    const bff = await startBff({ profile })
    const browsing = await openPage(browser)
    const { page } = browsing
    const methods = page.waitForResponse((response) => response.url().endsWith('/auth/methods'))
    await page.goto(`${bff.url}/`)
    await page.locator('#signed-out').waitFor()
    expect(await (await methods).json()).not.toHaveProperty('demo')
    await page.waitForLoadState('networkidle')
    expect(await page.locator('#demo-hint').isVisible()).toBe(false)
    expect(await page.getByText('Demo mode').filter({ visible: true }).count()).toBe(0)

    // An address that has an account already: Ejento refuses, and the sign-up card says why.
    await page.locator('#signup-email').fill('demo@example.com')
    await page.locator('#signup-password').fill('another-password')
    await page.getByRole('button', { name: 'Create account' }).click()
    const refusal = page.locator('#signup-form').getByRole('alert')
    await refusal.filter({ hasText: 'already exists' }).waitFor()
    expect(await page.locator('#error').isVisible()).toBe(false)
    await screenshot(page, `${profile.name}-11-signup-refused`)

    // A sign-up that works clears it; the full name it gave is who is logged in.
    const email = `polish-${randomUUID().slice(0, 8)}@example.com`
    await page.locator('#signup-name').fill('Newcomer Nadia')
    await page.locator('#signup-email').fill(email)
    await page.locator('#signup-password').fill('nadia-password-1')
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.locator('#notice').filter({ hasText: `Account created for ${email}` }).waitFor()
    expect(await refusal.isVisible()).toBe(false)
    await logIn(page, email, 'nadia-password-1')
    expect(await page.locator('#who').innerText()).toBe('Signed in as Newcomer Nadia')
    await page.reload()
    await signedIn(page)
    expect(await page.locator('#who').innerText()).toBe('Signed in as Newcomer Nadia')
    expect(await page.locator('#who').getAttribute('title')).toBe(email)

    await expectNoTokenInPage(bff, browsing)
    expect(pageProblems(browsing)).toEqual([])
  })
})
