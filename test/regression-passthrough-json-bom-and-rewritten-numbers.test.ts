import { createServer } from 'node:http'
import { beforeAll, describe, expect, it } from 'vitest'
import { login, onCleanup, setup } from './helpers/app.js'
import type { CleanupScope } from './helpers/app.js'
import { injectUnchecked } from './helpers/contract.js'
import { jsonEscaped, listenLocally, startBehindHostileApi } from './helpers/hostile-upstream.js'
import { PROFILES } from './helpers/profiles.js'
import { alive } from './helpers/real-server.js'
import type { RealServer } from './helpers/real-server.js'

/**
 * Regression (outside attack A13): the passthrough's JSON check.
 * - A JSON answer starting with a UTF-8 byte order mark failed the BFF's JSON.parse, so only its
 *   bytes were searched: a token spelled with `\u` escapes passed, and fetch's json() (which drops
 *   the mark) decoded it.
 * - A JSON answer re-written because a token field or an escaped credential was taken out lost
 *   its numbers as written (an id beyond 2^53 rounded, 1.0 became 1), which the named routes keep.
 */

const BIG_ID = '12345678901234567890'

async function hostileApi (tokens: string[], cleanup: CleanupScope): Promise<string> {
  const server = createServer((request, response) => {
    request.resume()
    const token = (request.headers.authorization ?? '').replace(/^Bearer /, '')
    tokens.push(token)
    response.setHeader('content-type', 'application/json')
    if (request.url?.endsWith('/bom') === true) response.end(`\uFEFF{"id":${BIG_ID},"echo":"${jsonEscaped(token)}"}`)
    else response.end(`{"id":${BIG_ID},"ratio":1.0,"access_token":"some-other-token-0123456789"}`)
  })
  return await listenLocally(server, cleanup)
}

function expectClean (text: string, tokens: string[]): void {
  expect(tokens.length).toBeGreaterThan(0)
  for (const token of tokens) {
    expect(token.length).toBeGreaterThan(20)
    expect(text).not.toContain(token)
    expect(text).not.toContain(jsonEscaped(token))
  }
}

describe.each(PROFILES)('regression: passthrough JSON with a byte order mark, and re-written numbers, on %s', (_name, profile) => {
  it('app.inject: the escaped token behind a mark is cut; a re-written answer keeps its numbers', async () => {
    const tokens: string[] = []
    const context = await setup({ profile, env: { EJENTO_API_URL: await hostileApi(tokens, onCleanup) } })
    const cookie = await login(context)
    const bom = await injectUnchecked(context.app, { method: 'GET', url: '/proxy/ejento/api/x/bom', headers: { cookie } })
    expect(bom.statusCode).toBe(200)
    expect(bom.body).toBe(`{"id":${BIG_ID},"echo":"[withheld]"}`)
    expectClean(bom.body, tokens)
    const field = await injectUnchecked(context.app, { method: 'GET', url: '/proxy/ejento/api/x/field', headers: { cookie } })
    expect(field.body).toBe(`{"id":${BIG_ID},"ratio":1.0}`)
  })

  describe('compiled server on a real socket', () => {
    const tokens: string[] = []
    let server: RealServer
    let cookie: string

    beforeAll(async () => {
      ({ server, cookie } = await startBehindHostileApi(profile, async (cleanup) => await hostileApi(tokens, cleanup)))
    })

    it('fetch\'s json() of an answer with a mark reads no token; a re-written answer keeps its numbers', async () => {
      const bom = await fetch(`${server.base}/proxy/ejento/api/x/bom`, { headers: { cookie } })
      expect(bom.status).toBe(200)
      expectClean(JSON.stringify(await bom.json()), tokens)
      const field = await fetch(`${server.base}/proxy/ejento/api/x/field`, { headers: { cookie } })
      expect(await field.text()).toBe(`{"id":${BIG_ID},"ratio":1.0}`)
      expectClean(server.stdout() + server.stderr(), tokens)
      expect(await alive(server)).toBe(true)
    })
  })
})
