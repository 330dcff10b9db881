import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { chromium } from 'playwright-core'
import { expect } from 'vitest'
import type { Browser, BrowserContext, Page, Response } from 'playwright-core'
import { buildApp } from '../../src/app.js'
import type { Config } from '../../src/config/index.js'
import { startSimulator } from '../../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../../src/simulator/index.js'
import { onCleanup, testConfig } from '../helpers/app.js'
import type { TestProfile } from '../helpers/profiles.js'

/** Debian's Chromium (`apt-get install -y chromium`; .ci/run installs it when missing). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const WEB_DIR = fileURLToPath(new URL('../../web', import.meta.url))
export const SCREENSHOTS = fileURLToPath(new URL('../../test-results/screenshots', import.meta.url))

/** Launches headless Chromium with a fresh profile; fails loudly (never skips) when it is missing. */
export async function launchChromium (): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`The browser tests need Chromium at ${CHROMIUM}: install it with \`apt-get update && apt-get install -y chromium\` (.ci/run does), or set CHROMIUM_PATH.`)
  }
  // playwright-core gives every launch a fresh temporary user-data-dir of its own.
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
}

export interface Bff {
  app: FastifyInstance
  sim: Simulator
  config: Config
  /** `http://127.0.0.1:<port>`, the page's origin. */
  url: string
}

/**
 * The simulator and the BFF serving web/, listening on a random local port; closed after the
 * test. `profile` (default: the guide's) sets both sides' path profile; `demo` runs the BFF in
 * demo mode, as `npm run demo` does.
 */
export async function startBff (options: { profile?: TestProfile, env?: Record<string, string>, sim?: SimulatorOptions, demo?: boolean } = {}): Promise<Bff> {
  const sim = await startSimulator({ ...options.profile?.sim, ...options.sim })
  onCleanup(sim.close)
  const config = testConfig(sim, { STATIC_DIR: WEB_DIR, LOG_LEVEL: 'warn', ...options.profile?.env, ...options.env })
  config.demo = options.demo ?? false
  const app = await buildApp({ config, logStream: { write: () => {} } })
  onCleanup(async () => { await app.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('the BFF listens on no port')
  return { app, sim, config, url: `http://127.0.0.1:${address.port}` }
}

export interface BrowsingPage {
  context: BrowserContext
  page: Page
  /** Everything the page received as a response body (text), filled as answers complete. */
  bodies: () => Promise<string[]>
  /** Console errors, uncaught page errors and failed requests, as text. */
  problems: string[]
  /** Every console message, whatever its level. */
  console: string[]
  /** Every address the page's top frame showed (committed navigations, history changes included). */
  visited: string[]
}

/** A phone's screen, in CSS pixels (an iPhone 12 to 15). */
export const PHONE = { width: 390, height: 844 }

/**
 * A fresh browser context (no cookie, no storage) and page, with its answers and errors
 * recorded; a desktop window unless `viewport` says otherwise (PHONE).
 */
export async function openPage (browser: Browser, options: { viewport?: { width: number, height: number } } = {}): Promise<BrowsingPage> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 900, height: 720 }, deviceScaleFactor: 1 })
  onCleanup(async () => { await context.close() })
  const page = await context.newPage()
  page.setDefaultTimeout(10_000)
  const pending: Array<Promise<string>> = []
  const problems: string[] = []
  const logged: string[] = []
  const visited: string[] = []
  page.on('response', (response: Response) => {
    pending.push(response.text().catch(() => ''))
  })
  page.on('console', (message) => {
    logged.push(message.text())
    if (message.type() === 'error') problems.push(`console: ${message.text()}`)
  })
  page.on('pageerror', (error) => { problems.push(`page error: ${error.message}`) })
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) visited.push(frame.url())
  })
  return { context, page, problems, console: logged, visited, bodies: async () => await Promise.all(pending) }
}

export async function screenshot (page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true })
  const path = `${SCREENSHOTS}/${name}.png`
  await page.screenshot({ path })
  return path
}

/** Logs in through the page's form and waits until it shows who is logged in (full name, else e-mail). */
export async function logIn (page: Page, email = 'demo@example.com', password = 'demo-password'): Promise<void> {
  await page.locator('#login-email').fill(email)
  await page.locator('#login-password').fill(password)
  await page.getByRole('button', { name: 'Log in', exact: true }).click()
  await signedIn(page)
}

/** Waits until the page shows the chat of someone logged in. */
export async function signedIn (page: Page): Promise<void> {
  await page.locator('body[data-session="signed-in"]').waitFor({ state: 'attached' })
  await page.locator('#who').filter({ hasText: /^Signed in as \S/ }).waitFor()
}

/** Asks a question through the page and answers the text of the finished answer; fails on a shown error. */
export async function ask (page: Page, question: string): Promise<string> {
  const before = await page.locator('#messages .answer[data-state="done"]').count()
  await page.locator('#question').fill(question)
  await page.getByRole('button', { name: 'Send' }).click()
  const done = page.locator('#messages .answer[data-state="done"]').nth(before)
  const error = page.locator('#error')
  await done.or(page.locator('#error:visible')).waitFor()
  if (await error.isVisible()) throw new Error(`the page shows an error: ${await error.innerText()}`)
  return await done.locator('.text').innerText()
}

/** The answer the simulator gives to a question. */
export function expectedAnswer (question: string, agent = 'Demo Agent'): string {
  return `You asked: "${question}". I am ${agent}, answering word by word.`
}

/** Chrome reports every 4xx answer on the console; the page's own failures are what matter. */
export function pageProblems (browsing: BrowsingPage): string[] {
  return browsing.problems.filter((problem) => !problem.includes('Failed to load resource'))
}

// The browser globals the page functions below use (the project compiles without the DOM library).
declare const document: { cookie: string, referrer: string }
declare const localStorage: Record<string, string>
declare const sessionStorage: Record<string, string>

/**
 * No token anywhere the page could reach: its cookies (the session cookie invisible to its
 * scripts), storage, HTML, every address it showed, its console, and every body it received.
 */
export async function expectNoTokenInPage (bff: Bff, browsing: BrowsingPage): Promise<void> {
  const { page } = browsing
  const { cookie, storage, referrer } = await page.evaluate(() => ({
    cookie: document.cookie,
    referrer: document.referrer,
    storage: JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })
  }))
  expect(bff.sim.state.issuedTokens.length).toBeGreaterThan(0)
  expect(cookie).not.toContain(bff.config.session.cookieName)
  const seen = [cookie, referrer, storage, await page.content(), page.url(), ...browsing.visited, ...browsing.console, ...await browsing.bodies()]
  expect(leakedTokens(bff.sim, seen)).toEqual([])
}

/** The tokens the simulator issued that appear in `texts`. */
export function leakedTokens (sim: Simulator, texts: readonly string[]): string[] {
  return sim.state.issuedTokens.filter((token) => texts.some((text) => text.includes(token)))
}
