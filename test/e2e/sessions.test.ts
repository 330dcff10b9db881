import type { Browser, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectedAnswer, ask, launchChromium, logIn, openPage, screenshot, signedIn, startBff } from './browser.js'
import type { Bff, BrowsingPage } from './browser.js'

interface ListedSession { handle: string, createdAt: string, lastSeenAt: string, device: string, address: string, current: boolean }

/** Chrome reports every 4xx answer on the console; the page's own failures are what matter. */
function pageProblems (browsing: BrowsingPage): string[] {
  return browsing.problems.filter((problem) => !problem.includes('Failed to load resource'))
}

/** What the page's own script gets from a BFF route, with the page's cookie. */
async function fetchJson (page: Page, path: string): Promise<{ status: number, body: Record<string, unknown> }> {
  return await page.evaluate(async (path) => {
    const response = await fetch(path, { credentials: 'include' })
    return { status: response.status, body: await response.json() as Record<string, unknown> }
  }, path)
}

/** A fresh browser context on the page, logged in as the demo user through the log-in form. */
async function loggedInPage (browser: Browser, bff: Bff): Promise<BrowsingPage> {
  const browsing = await openPage(browser)
  await browsing.page.goto(`${bff.url}/`)
  await logIn(browsing.page)
  return browsing
}

/** The panel's entries, once it lists `count` sessions. */
async function sessionsListed (page: Page, count: number): Promise<Locator> {
  const entries = page.getByRole('list', { name: 'Your sessions' }).getByRole('listitem')
  await expect.poll(async () => await entries.count(), { timeout: 10_000 }).toBe(count)
  await page.locator('#sessions-list[aria-busy="false"]').waitFor()
  return entries
}

async function openPanel (page: Page): Promise<void> {
  const toggle = page.getByRole('button', { name: 'Your sessions' })
  expect(await toggle.getAttribute('aria-expanded')).toBe('false')
  await toggle.click()
  expect(await toggle.getAttribute('aria-expanded')).toBe('true')
  await page.getByRole('region', { name: 'Your sessions' }).waitFor()
}

/** Signed out as the page shows it, and as the BFF sees the browser's cookie. */
async function expectSignedOut (page: Page): Promise<void> {
  await page.locator('#signed-out').waitFor()
  expect(await page.locator('#signed-in').isVisible()).toBe(false)
  expect(await page.locator('#account').isVisible()).toBe(false)
  expect(await page.locator('#sessions').isVisible()).toBe(false)
  expect(await fetchJson(page, '/auth/session')).toEqual({ status: 200, body: { authenticated: false } })
}

describe('the example page\'s "Your sessions" panel in Chromium', () => {
  let browser: Browser
  beforeAll(async () => { browser = await launchChromium() })
  afterAll(async () => { await browser?.close() })

  it('lists two browsers of one user, signs the second out (its next call is 401), then signs out everywhere else but here', { timeout: 60_000 }, async () => {
    const bff = await startBff({ sim: { streamIntervalMs: 5 } })
    const first = await loggedInPage(browser, bff)
    const second = await loggedInPage(browser, bff)
    const { page } = first
    expect(await page.locator('#sessions').isVisible()).toBe(false)

    await openPanel(page)
    const entries = await sessionsListed(page, 2)
    // This browser is marked, and has no button of its own ("Log out" does that).
    const here = page.locator('.session[data-current="true"]')
    expect(await here.count()).toBe(1)
    expect(await here.innerText()).toContain('This device')
    expect(await here.getByRole('button').count()).toBe(0)
    const other = page.locator('.session[data-current="false"]')
    expect(await other.count()).toBe(1)
    expect(await other.innerText()).not.toContain('This device')
    for (const entry of await entries.all()) {
      const text = await entry.innerText()
      expect(text).toContain('Chrome on Linux')
      expect(text).toContain('127.0.0.0/24')
      expect(text).toMatch(/signed in .+ · active just now/)
      // Both times are machine-readable <time> elements carrying the BFF's ISO strings.
      const times = await entry.locator('time').evaluateAll((elements) => elements.map((element) => element.getAttribute('datetime') ?? ''))
      expect(times).toHaveLength(2)
      for (const time of times) expect(Number.isNaN(Date.parse(time))).toBe(false)
    }
    const status = page.locator('#sessions-status')
    expect(await status.innerText()).toBe('Signed in here and in one other place.')
    // This browser comes first, whatever the order of last activity.
    expect(await entries.first().getAttribute('data-current')).toBe('true')
    const revokeOthers = page.getByRole('button', { name: 'Sign out everywhere else' })
    expect(await revokeOthers.isEnabled()).toBe(true)
    await screenshot(page, 'sessions-01-two-browsers')

    // The handles the page holds are not anyone's cookie.
    const listed = (await fetchJson(page, '/auth/sessions')).body.sessions as ListedSession[]
    expect(listed.map((session) => session.current).sort()).toEqual([false, true])
    const cookies = [...await first.context.cookies(bff.url), ...await second.context.cookies(bff.url)]
      .filter((cookie) => cookie.name === bff.config.session.cookieName)
    expect(cookies).toHaveLength(2)
    for (const { handle } of listed) {
      for (const cookie of cookies) expect(cookie.value).not.toContain(handle)
    }

    const signOut = other.getByRole('button', { name: /^Sign out .+, signed in / })
    await signOut.click()
    await sessionsListed(page, 1)
    await page.locator('#notice').filter({ hasText: /^Signed out .+ \(signed in .+\)\.$/ }).waitFor()
    expect(await page.locator('.session[data-current="true"]').count()).toBe(1)
    expect(await status.innerText()).toBe('Signed in only here.')
    expect(await revokeOthers.isDisabled()).toBe(true)
    expect(await page.locator('#error').isVisible()).toBe(false)
    await screenshot(page, 'sessions-02-second-signed-out')

    // The second browser still shows the chat; its next call is refused, and it shows the log-in form.
    expect(await second.page.locator('#signed-in').isVisible()).toBe(true)
    await second.page.locator('#question').fill('Am I still signed in?')
    const refused = second.page.waitForResponse((response) => response.url().endsWith('/api/agents/1/responses'))
    await second.page.getByRole('button', { name: 'Send' }).click()
    expect((await refused).status()).toBe(401)
    await expectSignedOut(second.page)
    expect(await second.page.locator('#error').innerText()).toMatch(/Please log in again\.$/)
    await screenshot(second.page, 'sessions-03-signed-out-elsewhere')
    expect(bff.sim.requestsTo('api', /\/(?:chat-thread|response)$/)).toHaveLength(0)

    // A third browser logs in; "Sign out everywhere else" ends it and keeps this one.
    const third = await loggedInPage(browser, bff)
    await page.getByRole('button', { name: 'Refresh' }).click()
    await sessionsListed(page, 2)
    expect(await revokeOthers.isEnabled()).toBe(true)
    await revokeOthers.click()
    await sessionsListed(page, 1)
    await page.locator('#notice').filter({ hasText: 'Signed out everywhere else. You stay signed in here.' }).waitFor()
    expect(await revokeOthers.isDisabled()).toBe(true)

    await third.page.reload()
    await expectSignedOut(third.page)

    // This browser stays signed in, through a reload too, and still chats.
    await page.reload()
    await signedIn(page)
    expect((await fetchJson(page, '/auth/session')).body).toMatchObject({ authenticated: true })
    await openPanel(page)
    await sessionsListed(page, 1)
    expect(await ask(page, 'Still here?')).toBe(expectedAnswer('Still here?'))

    for (const browsing of [first, second, third]) expect(pageProblems(browsing)).toEqual([])
  })

  it('shows the refusal to sign out a session that ended meanwhile, lists again, and shows the log-in form once its own session is gone', { timeout: 60_000 }, async () => {
    const bff = await startBff()
    const first = await loggedInPage(browser, bff)
    const second = await loggedInPage(browser, bff)
    const { page } = first

    await openPanel(page)
    await sessionsListed(page, 2)
    // The second browser logs out by itself: the first's list is now stale.
    await second.page.getByRole('button', { name: 'Log out' }).click()
    await second.page.locator('#signed-out').waitFor()

    const refused = page.waitForResponse((response) => response.request().method() === 'DELETE')
    await page.locator('.session[data-current="false"]').getByRole('button', { name: /^Sign out / }).click()
    const problem = await (await refused).json() as { code?: string, detail?: string }
    expect((await refused).status()).toBe(404)
    expect(problem.code).toBe('session_not_found')
    await page.locator('#error:visible').waitFor()
    expect(await page.locator('#error').innerText()).toBe(problem.detail)
    await sessionsListed(page, 1)
    expect(await page.locator('.session[data-current="true"]').count()).toBe(1)
    expect(await page.locator('#signed-in').isVisible()).toBe(true)
    await screenshot(page, 'sessions-04-already-gone')

    // Closing and opening the panel lists again; once this session has ended elsewhere, that shows the log-in form.
    await page.getByRole('button', { name: 'Your sessions' }).click()
    expect(await page.locator('#sessions').isVisible()).toBe(false)
    const third = await loggedInPage(browser, bff)
    await third.page.getByRole('button', { name: 'Your sessions' }).click()
    await sessionsListed(third.page, 2)
    await third.page.getByRole('button', { name: 'Sign out everywhere else' }).click()
    await sessionsListed(third.page, 1)

    await page.getByRole('button', { name: 'Your sessions' }).click()
    await expectSignedOut(page)
    expect(await page.locator('#error').innerText()).toMatch(/Please log in again\.$/)

    for (const browsing of [first, second, third]) expect(pageProblems(browsing)).toEqual([])
  })
})
