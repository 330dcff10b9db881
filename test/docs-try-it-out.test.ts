import { describe, expect, it } from 'vitest'
import { passthroughPathAsTyped } from '../src/plugins/docs.js'
import { DEMO, login, onCleanup, setup } from './helpers/app.js'
import { PROFILES } from './helpers/profiles.js'
import { launchChromium, openPage, startBff } from './e2e/browser.js'

/**
 * "Try it out" on the passthrough in /docs: swagger-ui encodes the `*` path parameter whole
 * (`api%2Fagents`), which the BFF refuses (400 unsafe_path); the page's request interceptor
 * sends it as typed, unless a dot segment in it would have the browser send it elsewhere.
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

  it('the interceptor refuses to send a path with a dot segment, which the browser would resolve out of the passthrough', async () => {
    const intercepted = (url: string): unknown => passthroughPathAsTyped({ url, method: 'GET' }).url
    /** What the request would get: swagger-ui calls `userFetch`, when the interceptor sets one, in place of the network. */
    const refusal = async (url: string): Promise<Response | undefined> => {
      const { userFetch } = passthroughPathAsTyped({ url, method: 'GET' })
      return typeof userFetch === 'function' ? await (userFetch as () => Promise<Response>)() : undefined
    }
    for (const typed of ['api/../../auth/api/users', '..', './api/agents', 'api/%2e%2e/%2E%2e/auth/x', 'api/.%2e/x', 'api/%2e/x', 'api/..?a=1']) {
      const answer = await refusal(`http://bff.test/proxy/ejento/${encodeURIComponent(typed)}`)
      expect(answer?.status, typed).toBe(400)
      expect(answer?.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      expect(await answer?.json()).toMatchObject({ status: 400, code: 'unsafe_path', detail: expect.stringMatching(/^Not sent by \/docs: the path has a dot segment/) })
    }
    // On any route: swagger-ui leaves an id typed as ".." as it is.
    expect((await refusal('http://bff.test/api/agents/../chat-threads'))?.status).toBe(400)
    expect((await refusal('/api/chat-threads/./responses'))?.status).toBe(400)
    // Dots that are no segment of their own, or in the query, are sent.
    // What stays encoded is no separator to the browser either (`\\`, a tab, `#` arrive as %5C, %09, %23; the BFF refuses them).
    for (const typed of ['api/v2/agents.json', 'api/...x/a..b', 'api/agents?next=../x', 'api/%2e%2ex', 'api/..#x', 'api\\..\\x', 'api/.\t./x']) {
      const url = `http://bff.test/proxy/ejento/${encodeURIComponent(typed)}`
      expect(intercepted(url), typed).toMatch(/^http:\/\/bff\.test\/proxy\/ejento\/api[/%]/)
      expect(await refusal(url), typed).toBeUndefined()
    }
    expect(intercepted('http://bff.test/api/agents/1.5/chat-threads')).toBe('http://bff.test/api/agents/1.5/chat-threads')
    expect(await refusal('http://bff.test/api/agents/1.5/chat-threads')).toBeUndefined()
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

    it('"Try it out" with a dot segment in * sends nothing and says why, rather than a call out of the passthrough', async () => {
      const bff = await startBff({ profile })
      const browser = await launchChromium()
      onCleanup(async () => { await browser.close() })
      const browsing = await openPage(browser)
      const { page, context } = browsing
      page.setDefaultTimeout(45_000)
      const loggedIn = await context.request.post(`${bff.url}/auth/login`, { data: DEMO })
      expect(loggedIn.status()).toBe(200)
      const sent: string[] = []
      page.on('request', (request) => { sent.push(new URL(request.url()).pathname) })

      await page.goto(`${bff.url}/docs`, { waitUntil: 'domcontentloaded' })
      const operation = page.locator('.opblock-get').filter({ has: page.locator('[data-path="/proxy/ejento/{*}"]') })
      await operation.locator('.opblock-summary').first().click()
      await operation.getByRole('button', { name: 'Try it out' }).click()
      // As sent, /proxy/ejento/api/../../auth/api/users would be /proxy/auth/api/users: the other server.
      await operation.locator('input[placeholder="*"]').fill('api/../../auth/api/users')
      const before = sent.length
      await operation.getByRole('button', { name: 'Execute' }).click()
      await operation.locator('.live-responses-table tr.response .response-col_status').first().waitFor()

      // The refusal is shown as an answer (the problem the BFF gives a dot segment), documented, saying it was not sent.
      expect((await operation.locator('.live-responses-table tr.response .response-col_status').first().innerText()).trim()).toBe('400')
      expect(await operation.locator('.live-responses-table tr.response .response-undocumented').count()).toBe(0)
      const shown = await operation.locator('.live-responses-table tr.response .response-col_description').first().innerText()
      expect(shown).toContain('unsafe_path')
      expect(shown).toContain('Not sent by /docs')
      expect(browsing.problems.filter((problem) => !problem.includes('Failed to load resource'))).toEqual([])

      expect(sent.slice(before).filter((path) => path.startsWith('/proxy/'))).toEqual([])
      expect(bff.sim.requestsTo('auth').filter((request) => request.path === '/api/users')).toEqual([])
    }, 120_000)
  })
})
