import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config/index.js'
import { PAGE_CSP } from '../src/plugins/static-app.js'
import { login, onCleanup, setup } from './helpers/app.js'
import { ROOT, startDemo } from './helpers/processes.js'

const WEB_DIR = join(ROOT, 'web')
const BASE_ENV = { EJENTO_AUTH_URL: 'http://auth.example.test', EJENTO_API_URL: 'http://api.example.test', SESSION_SECRET: 'a'.repeat(40) }

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ejento-static-'))
  onCleanup(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

describe('STATIC_DIR', () => {
  it('is unset by default, and resolved to an absolute directory when set', () => {
    expect(loadConfig(BASE_ENV).staticDir).toBeUndefined()
    expect(loadConfig({ ...BASE_ENV, STATIC_DIR: 'web' }).staticDir).toBe(WEB_DIR)
  })

  it('must be an existing directory; the error names STATIC_DIR on one line', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'file.txt'), 'x')
    for (const value of [join(dir, 'missing'), join(dir, 'file.txt')]) {
      let error: unknown
      try {
        loadConfig({ ...BASE_ENV, STATIC_DIR: value })
      } catch (caught) {
        error = caught
      }
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).variable).toBe('STATIC_DIR')
      expect((error as ConfigError).message).toMatch(/^STATIC_DIR must be .*directory/)
      expect((error as ConfigError).message).not.toContain('\n')
    }
  })
})

describe('the static browser app', () => {
  it('is not served without STATIC_DIR: / is a 404 problem', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'GET', url: '/' })
    expect(response.statusCode).toBe(404)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  })

  it('serves index.html at / and its assets, with a page CSP and no-cache; API answers keep their own CSP', async () => {
    const context = await setup({ env: { STATIC_DIR: WEB_DIR } })
    const { app } = context
    const page = await app.inject({ method: 'GET', url: '/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.body).toContain('<script type="module" src="app.js"></script>')
    expect(page.headers['content-security-policy']).toBe(PAGE_CSP)
    expect(page.headers['cache-control']).toBe('no-cache')
    expect(page.headers['x-content-type-options']).toBe('nosniff')
    expect(page.headers['x-frame-options']).toBeDefined()

    const script = await app.inject({ method: 'GET', url: '/app.js' })
    expect(script.statusCode).toBe(200)
    expect(script.headers['content-type']).toMatch(/^(text|application)\/javascript/)
    expect(script.headers['content-security-policy']).toBe(PAGE_CSP)
    const styles = await app.inject({ method: 'GET', url: '/styles.css' })
    expect(styles.headers['content-type']).toMatch(/^text\/css/)
    expect((await app.inject({ method: 'HEAD', url: '/index.html' })).statusCode).toBe(200)

    // A revalidation with the ETag is answered 304.
    const again = await app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': String(page.headers.etag) } })
    expect(again.statusCode).toBe(304)

    // Nothing else becomes a file route, and the API is untouched.
    for (const url of ['/missing.js', '/../package.json', '/%2e%2e/package.json', '/.env']) {
      const response = await app.inject({ method: 'GET', url })
      expect(response.statusCode, url).toBeGreaterThanOrEqual(400)
      expect(response.body).not.toContain('"dependencies"')
    }
    const session = await app.inject({ method: 'GET', url: '/auth/session', headers: { cookie: await login(context) } })
    expect(session.json()).toMatchObject({ authenticated: true })
    expect(session.headers['content-security-policy']).toContain("default-src 'none'")
    expect(session.headers['cache-control']).toBe('no-store')
    expect((await app.inject({ method: 'GET', url: '/healthz' })).headers['content-security-policy']).toContain("default-src 'none'")
  })

  it('refuses a folder whose names would shadow the BFF routes', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'index.html'), '<!doctype html>')
    await mkdir(join(dir, 'api'))
    await writeFile(join(dir, 'api', 'x.json'), '{}')
    await expect(setup({ env: { STATIC_DIR: dir } })).rejects.toThrow(/STATIC_DIR must not hold api/)
  })
})

it('demo mode (tsx src/demo.ts) serves web/ at / without any variable', async () => {
  const base = await startDemo()
  const page = await fetch(`${base}/`)
  expect(page.status).toBe(200)
  expect(await page.text()).toContain('<title>Ejento chat')
  expect((await fetch(`${base}/app.js`)).headers.get('content-security-policy')).toBe(PAGE_CSP)
})
