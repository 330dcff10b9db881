import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onCleanup } from '../helpers/app.js'
import { launchChromium, openPage, startBff } from './browser.js'
import type { Bff } from './browser.js'

/**
 * A page of another origin (another port of 127.0.0.1: same site, other origin) that tries to
 * use the BFF with the visitor's credentials: a JSON log-in (preflighted), a form log-in (a
 * "simple" request, sent without a preflight) and a read of the session. It writes what it
 * could read into #result.
 */
const OTHER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another origin</title>
<script type="module" src="/other.js"></script></head>
<body><pre id="result"></pre></body></html>`

const OTHER_SCRIPT = `
const bff = new URLSearchParams(location.search).get('bff')
async function attempt (path, init) {
  try {
    const response = await fetch(bff + path, { credentials: 'include', ...init })
    return { status: response.status, body: await response.json() }
  } catch (error) {
    return { error: error.name }
  }
}
const result = {
  jsonLogin: await attempt('/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'demo@example.com', password: 'demo-password' })
  }),
  formLogin: await attempt('/auth/login', {
    method: 'POST',
    body: new URLSearchParams({ username: 'demo@example.com', password: 'demo-password' })
  }),
  session: await attempt('/auth/session', {})
}
document.getElementById('result').textContent = JSON.stringify(result)
`

interface Attempt { status?: number, body?: Record<string, unknown>, error?: string }
interface OtherPageResult { jsonLogin: Attempt, formLogin: Attempt, session: Attempt }

/** The other origin's server: its page and its script, nothing else. */
async function startOtherOrigin (): Promise<string> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (path === '/') response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(OTHER_PAGE)
    else if (path === '/other.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(OTHER_SCRIPT)
    else response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** The BFF's own count of answers to one route, method and status (its Prometheus metrics). */
async function answered (bff: Bff, route: string, method: string, status: number): Promise<number> {
  const text = await (await fetch(`${bff.url}/metrics`)).text()
  const line = text.split('\n').find((candidate) => candidate.startsWith('ejento_bff_http_request_duration_seconds_count{') &&
    candidate.includes(`route="${route}"`) && candidate.includes(`method="${method}"`) && candidate.includes(`status="${status}"`))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

describe('calls from a page of another origin, in Chromium', () => {
  let browser: Browser
  beforeAll(async () => { browser = await launchChromium() })
  afterAll(async () => { await browser?.close() })

  async function visit (other: string, bff: Bff): Promise<{ result: OtherPageResult, cookies: string[] }> {
    const { page, context } = await openPage(browser)
    await page.goto(`${other}/?bff=${encodeURIComponent(bff.url)}`)
    await page.locator('#result').filter({ hasText: 'session' }).waitFor()
    const result = JSON.parse(await page.locator('#result').innerText()) as OtherPageResult
    const cookies = (await context.cookies(bff.url)).map((cookie) => cookie.name)
    return { result, cookies }
  }

  it('cannot make a credentialed POST when its origin is not in ALLOWED_ORIGINS', async () => {
    const other = await startOtherOrigin()
    const bff = await startBff()
    const { result, cookies } = await visit(other, bff)

    // The page can read nothing: CORS hides every answer (fetch fails with a TypeError).
    expect(result).toEqual({ jsonLogin: { error: 'TypeError' }, formLogin: { error: 'TypeError' }, session: { error: 'TypeError' } })
    // The JSON log-in stopped at its preflight; the form log-in reached the BFF and was refused
    // (403 csrf_rejected: same site, but a foreign Origin); Ejento never saw a log-in.
    expect(await answered(bff, '/auth/login', 'POST', 403)).toBe(1)
    expect(await answered(bff, '/auth/login', 'POST', 200)).toBe(0)
    expect(bff.sim.requestsTo('auth', /^\/api\/login\//)).toHaveLength(0)
    expect(cookies).not.toContain(bff.config.session.cookieName)
  })

  it('can when its origin is in ALLOWED_ORIGINS, and then reads its session', async () => {
    const other = await startOtherOrigin()
    const bff = await startBff({ env: { ALLOWED_ORIGINS: other } })
    const { result, cookies } = await visit(other, bff)

    expect(result.jsonLogin.status).toBe(200)
    expect(result.jsonLogin.body).toMatchObject({ authenticated: true, user: { email: 'demo@example.com' } })
    expect(result.formLogin.status).toBe(200)
    expect(result.session).toMatchObject({ status: 200, body: { authenticated: true } })
    expect(bff.sim.requestsTo('auth', /^\/api\/login\//)).toHaveLength(2)
    expect(cookies).toContain(bff.config.session.cookieName)
    // Not a token in what the other origin could read.
    const readable = JSON.stringify(result)
    expect(bff.sim.state.issuedTokens.filter((token) => readable.includes(token))).toEqual([])
  })
})
