import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext, Page, Response } from 'playwright-core'
import { buildApp } from '../../src/app.js'
import type { Config } from '../../src/config/index.js'
import { startSimulator } from '../../src/simulator/index.js'
import type { Simulator, SimulatorOptions } from '../../src/simulator/index.js'
import { onCleanup, testConfig } from '../helpers/app.js'

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

/** The simulator and the BFF serving web/, listening on a random local port; closed after the test. */
export async function startBff (options: { env?: Record<string, string>, sim?: SimulatorOptions } = {}): Promise<Bff> {
  const sim = await startSimulator(options.sim)
  onCleanup(sim.close)
  const config = testConfig(sim, { STATIC_DIR: WEB_DIR, LOG_LEVEL: 'warn', ...options.env })
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
}

/** A fresh browser context (no cookie, no storage) and page, with its answers and errors recorded. */
export async function openPage (browser: Browser): Promise<BrowsingPage> {
  const context = await browser.newContext({ viewport: { width: 900, height: 720 }, deviceScaleFactor: 1 })
  onCleanup(async () => { await context.close() })
  const page = await context.newPage()
  page.setDefaultTimeout(10_000)
  const pending: Array<Promise<string>> = []
  const problems: string[] = []
  page.on('response', (response: Response) => {
    pending.push(response.text().catch(() => ''))
  })
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`)
  })
  page.on('pageerror', (error) => { problems.push(`page error: ${error.message}`) })
  return { context, page, problems, bodies: async () => await Promise.all(pending) }
}

export async function screenshot (page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true })
  const path = `${SCREENSHOTS}/${name}.png`
  await page.screenshot({ path })
  return path
}

/** Logs in through the page's form and waits until it shows who is logged in. */
export async function logIn (page: Page, email = 'demo@example.com', password = 'demo-password'): Promise<void> {
  await page.locator('#login-email').fill(email)
  await page.locator('#login-password').fill(password)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.locator('#who').filter({ hasText: email }).waitFor()
}

/** Asks a question through the page and answers the text of the finished answer; fails on a shown error. */
export async function ask (page: Page, question: string): Promise<string> {
  const before = await page.locator('#messages .answer').count()
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

/** The tokens the simulator issued that appear in `texts`. */
export function leakedTokens (sim: Simulator, texts: readonly string[]): string[] {
  return sim.state.issuedTokens.filter((token) => texts.some((text) => text.includes(token)))
}
