import { describe, expect, it } from 'vitest'
import { passthroughPathAsTyped } from '../src/plugins/docs.js'
import { DEMO, login, onCleanup, setup } from './helpers/app.js'
import { PROFILES } from './helpers/profiles.js'
import { launchChromium, openPage, startBff } from './e2e/browser.js'

/**
 * "Try it out" on the passthrough in /docs: swagger-ui encodes the `*` path parameter whole
 * (`api%2Fagents`), which the BFF refuses (400 unsafe_path); the page's request interceptor
 * sends it as typed.
 */
describe('the passthrough in /docs', () => {
  it('is refused when its * arrives encoded as swagger-ui encodes it, which is what the interceptor undoes', async () => {
    const context = await setup()
    const cookie = await login(context)
    const encoded = await context.app.inject({ method: 'GET', url: `/proxy/ejento/${encodeURIComponent('api/agents')}`, headers: { cookie } })
    expect(encoded.statusCode).toBe(400)
    expect(encoded.json()).toMatchObject({ code: 'unsafe_path' })
    const typed = passthroughPathAsTyped({ url: `http://127.0.0.1:3000/proxy/ejento/${encodeURIComponent('api/agents')}` })
    const sent = await context.app.inject({ method: 'GET', url: new URL(typed.url as string).pathname, headers: { cookie } })
    expect(sent.statusCode).toBe(200)
  })

  it('the interceptor decodes only the path and query delimiters (and %) of the passthrough\'s *', () => {
    const intercepted = (url: string): unknown => passthroughPathAsTyped({ url, method: 'GET' }).url
    const typed = 'api/v2/agents?skip=0&q=a:b@c,d;e+f$g&pct=%20'
    expect(intercepted(`http://bff.test/proxy/ejento/${encodeURIComponent(typed)}`)).toBe(`http://bff.test/proxy/ejento/${typed}`)
    expect(intercepted(`https://bff.test:8443/proxy/auth/${encodeURIComponent('api/users/me')}`)).toBe('https://bff.test:8443/proxy/auth/api/users/me')
    expect(intercepted(`/proxy/ejento/${encodeURIComponent('api/agents')}`)).toBe('/proxy/ejento/api/agents')
    // What a URL cannot hold as typed stays encoded: spaces, quotes, a fragment's #, non-ASCII.
    expect(intercepted(`http://bff.test/proxy/ejento/${encodeURIComponent('a b/"c"#d/é')}`)).toBe('http://bff.test/proxy/ejento/a%20b/%22c%22%23d/%C3%A9')
    // Any other route, and look-alikes, are left alone.
    for (const url of ['http://bff.test/api/agents/1%2F2/responses', 'http://bff.test/proxy/ejentos/a%2Fb', 'http://bff.test/docs/json', 'http://bff.test/x/proxy/ejento/a%2Fb']) {
      expect(intercepted(url)).toBe(url)
    }
  })

  it('is what swagger-initializer.js configures as swagger-ui\'s request interceptor', async () => {
    const context = await setup()
    const script = await context.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
    expect(script.statusCode).toBe(200)
    expect(script.body).toMatch(/"requestInterceptor":\s*function passthroughPathAsTyped\s*\(request\)/)
  })

  describe.each(PROFILES)('in Chromium, on %s', (_name, profile) => {
    it('"Try it out" with a path and query typed in * reaches that path upstream and shows its answer', async () => {
      const bff = await startBff({ profile })
      const browser = await launchChromium()
      onCleanup(async () => { await browser.close() })
      const browsing = await openPage(browser)
      const { page, context } = browsing
      // swagger-ui's bundle is large: give a loaded machine time.
      page.setDefaultTimeout(45_000)
      // The session cookie, set in the browser as the page's own log-in would.
      const loggedIn = await context.request.post(`${bff.url}/auth/login`, { data: DEMO })
      expect(loggedIn.status()).toBe(200)

      await page.goto(`${bff.url}/docs`, { waitUntil: 'domcontentloaded' })
      const operation = page.locator('.opblock-get').filter({ has: page.locator('[data-path="/proxy/ejento/{*}"]') })
      await operation.locator('.opblock-summary').first().click()
      await operation.getByRole('button', { name: 'Try it out' }).click()
      const typed = `${profile.agentsPath.slice(1)}?skip=0&limit=5`
      await operation.locator('input[placeholder="*"]').fill(typed)
      await operation.getByRole('button', { name: 'Execute' }).click()
      await operation.locator('.live-responses-table tr.response .response-col_status').first().waitFor()

      expect((await operation.locator('.live-responses-table tr.response .response-col_status').first().innerText()).trim()).toBe('200')
      // The status is one the document lists.
      expect(await operation.locator('.live-responses-table tr.response .response-undocumented').count()).toBe(0)
      expect(await operation.locator('.live-responses-table tr.response .response-col_description').first().innerText()).toContain('Demo Agent')
      // The request URL swagger-ui shows is the one it built (before the interceptor); the upstream got the path as typed.
      const upstream = bff.sim.requestsTo('api').map((request) => request.url)
      expect(upstream).toContain(`/${typed}`)
      expect(browsing.problems.filter((problem) => !problem.includes('Failed to load resource'))).toEqual([])
    }, 120_000)
  })
})
