import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { HttpProblem } from '../src/errors.js'
import { passthroughTarget } from '../src/proxy/path.js'
import { startSimulator } from '../src/simulator/index.js'
import { PATH_PROFILES } from '../src/upstream/paths.js'
import { onCleanup } from './helpers/app.js'
import { rawRequest } from './helpers/raw-http.js'
import { alive, realLogin, startRealServer } from './helpers/real-server.js'
import { tokenPathReaders, unquote } from './helpers/server-readings.js'

/**
 * Property tests of the request target: whatever a browser (or a script) puts in it, no
 * upstream is ever sent a path that any common server reads as a token-issuing or sign-up
 * path, and what is sent is exactly what the check decided on.
 */

const PREFIXES = ['/proxy/auth', '/proxy/ejento'] as const

/** Every profile's log-in, refresh and sign-up paths, and ordinary paths around them. */
const TOKEN_PATHS = Object.values(PATH_PROFILES).flatMap((profile) => [profile.auth.login, profile.auth.refresh, profile.auth.signup])
const OTHER_PATHS = ['/api/users/me', '/api/agents', '/api/users/', '/api/agent/1/chat-thread', '/api/tokens', '/api/login-help']

/** The characters RFC 3986 allows in a path, then in a query (and the ones a browser leaves raw there). */
const RFC_3986_TARGET = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*(?:\?(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?[\]{}|^\\`]|%[0-9A-Fa-f]{2})*)?$/

/** Letters that look like, or fold to, ASCII ones: Cyrillic homoglyphs, long s, dotless i, the Kelvin sign. */
const LOOKALIKES: Record<string, string[]> = {
  a: ['\u0430'], c: ['\u0441'], e: ['\u0435'], i: ['\u0131', '\u0456'], k: ['\u212a'], o: ['\u043e'], p: ['\u0440'], s: ['\u017f', '\u0455'], t: ['\u0442'], x: ['\u0445']
}

function percentEncoded (text: string, levels: number, upperHex: boolean): string {
  let encoded = [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')
  if (upperHex) encoded = encoded.toUpperCase()
  for (let level = 1; level < levels; level++) encoded = encoded.replaceAll('%', '%25')
  return encoded
}

function swappedCase (character: string): string {
  return character === character.toLowerCase() ? character.toUpperCase() : character.toLowerCase()
}

/** One character as it is, case-swapped, percent-encoded once to three times (hex in either case), or a lookalike (raw or encoded). */
function disguisedCharacter (character: string): fc.Arbitrary<string> {
  const lookalikes = [String.fromCharCode(character.charCodeAt(0) + 0xfee0), ...(LOOKALIKES[character.toLowerCase()] ?? [])]
  return fc.oneof(
    { weight: 60, arbitrary: fc.constant(character) },
    { weight: 1, arbitrary: fc.constant(swappedCase(character)) },
    { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.boolean()).map(([levels, upper]) => percentEncoded(character, levels, upper)) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...lookalikes), fc.integer({ min: 0, max: 2 }), fc.boolean())
        .map(([lookalike, levels, upper]) => levels === 0 ? lookalike : percentEncoded(lookalike, levels, upper))
    }
  )
}

/** What may follow a segment: parameters, trailing dots and spaces, fragments, queries, slashes and backslashes, raw or encoded. */
const SEGMENT_ENDS = fc.oneof(
  { weight: 12, arbitrary: fc.constant('') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      ';', ';x=1', '.', '..', '...', ' ', '%20', '%2e', '%2E', '%252e', '.%2e', '#', '#x', '%23', '%2523', '?', '?x=1', '%3F', '%3f',
      '%3B', '%3b', '%09', '\t', '\\', '%5C', '%5c', '/', '%2F', '%2f', '%252F', '\u3000', '%E3%80%80', '%EF%BC%8E', '%EF%BC%8F',
      '%00', '%0A', '%C0%AE', '%u002e', '%', '%2', '%g1', '\u00a0', '%C2%A0', '\u200b', '%E2%80%8B'
    )
  }
)

/** What may stand where a slash does: the slash, or doubled slashes, dot segments and encoded or lookalike slashes. */
const SEPARATORS = fc.oneof(
  { weight: 20, arbitrary: fc.constant('/') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '//', '/./', '/../', '/x/../', '/%2e/', '/%2e%2e/', '/%2E%2E/', '/.%2e/', '/%252e%252e/', '/..;/', '/.;/', '\\', '/\\', '%2F', '%2f',
      '%252f', '%25252f', '/;/', '/%3B/', '/%EF%BC%8F', '%EF%BC%8F', '/%EF%BC%8E%EF%BC%8E/', '/\uff0e\uff0e/', '/%C0%AF', '/%E2%88%95'
    )
  }
)

function disguisedSegment (segment: string): fc.Arbitrary<string> {
  return fc.tuple(fc.tuple(...[...segment].map(disguisedCharacter)), SEGMENT_ENDS).map(([characters, end]) => characters.join('') + end)
}

/** A token-issuing, sign-up or ordinary path, each character and separator maybe disguised. */
const DISGUISED_PATHS = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...TOKEN_PATHS) }, { weight: 1, arbitrary: fc.constantFrom(...OTHER_PATHS) }).chain((path) =>
  fc.tuple(...path.slice(1).split('/').map((segment) => fc.tuple(SEPARATORS, disguisedSegment(segment))))
    .map((parts) => parts.map(([separator, segment]) => separator + segment).join('')))

const QUERIES = fc.option(fc.string({
  unit: fc.constantFrom('a', 'b', '=', '&', '/', '?', '#', '%', '%41', '%zz', '[', ']', '{', '|', '^', '`', '\\', ' ', '"', '<', 'é', "'", '+', ';', '%23'),
  maxLength: 8
}).map((query) => `?${query}`), { freq: 2 })

/** Characters a request target must not carry raw, and near-misses of a percent-escape. */
const NOISE = fc.constantFrom('#', '?', ';', ' ', '"', '<', '>', '\\', '^', '`', '{', '|', '}', '%', '%%', '%2', '%g0', 'é', '\u00a0', '\u200b', '\u3000', '\t', '\u0000', '\u007f', '\uff0f', '/.', '/..', '//')

interface GeneratedTarget {
  /** The request target as sent. */
  raw: string
  /** The passthrough route it was built for. */
  prefix: string
}

/** Request targets built from token-path pieces in origin-form, absolute-form (any host) or the asterisk-form, with noise. */
const TARGETS: fc.Arbitrary<GeneratedTarget> = fc.record({
  form: fc.constantFrom('origin', 'origin', 'origin', 'absolute', 'asterisk'),
  scheme: fc.constantFrom('http', 'HTTP', 'https'),
  host: fc.constantFrom('127.0.0.1', 'evil', 'evil.example', 'u:p@h', 'h:8080', ''),
  prefix: fc.constantFrom(...PREFIXES),
  path: DISGUISED_PATHS,
  query: QUERIES,
  noise: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(fc.nat(), NOISE) })
}).map(({ form, scheme, host, prefix, path, query, noise }) => {
  let raw = `${prefix}${path}${query ?? ''}`
  if (noise !== null) {
    const at = noise[0] % (raw.length + 1)
    raw = raw.slice(0, at) + noise[1] + raw.slice(at)
  }
  if (form === 'absolute') raw = `${scheme}://${host}${raw}`
  if (form === 'asterisk') raw = raw.length % 2 === 0 ? '*' : `*${raw}`
  return { raw, prefix }
})

/**
 * A bare node:http server that answers each request with the target Node's parser handed
 * it (`req.url`): the compiled server runs on the same Node, so this is the target its
 * check saw. Node itself answers 400 to a target its parser refuses.
 */
async function nodeParser (): Promise<(target: string) => Promise<string | undefined>> {
  const server = createServer((request, response) => { response.end(JSON.stringify(request.url)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(async () => { await new Promise((resolve) => server.close(resolve)) })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return async (target) => {
    const answer = await rawRequest(base, 'GET', target)
    return answer.statusCode === 200 ? JSON.parse(answer.body) as string : undefined
  }
}

/** Ordinary targets (safe characters, escapes that name nothing, queries a browser sends): they must go through as they are. */
const ORDINARY_TARGETS: fc.Arbitrary<GeneratedTarget> = fc.record({
  prefix: fc.constantFrom(...PREFIXES),
  segments: fc.array(fc.string({ unit: fc.constantFrom(...'abcxyz019-_~!$&\'()*+,=:@', '%20', '%41', '%7e', '%C3%A9'), minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }),
  trailingSlash: fc.boolean(),
  query: fc.option(fc.string({ unit: fc.constantFrom(...'abc=&/?[]{}|^`\\;\'+', '%41', '%20'), maxLength: 10 }))
}).map(({ prefix, segments, trailingSlash, query }) => ({
  raw: `${prefix}/${segments.join('/')}${trailingSlash ? '/' : ''}${query === null ? '' : `?${query}`}`,
  prefix
}))

/** What `passthroughTarget` decided: the target to forward, or the problem it refused with. */
function decide ({ raw, prefix }: GeneratedTarget): { target: string } | { problem: HttpProblem } {
  try {
    return { target: passthroughTarget(raw, prefix) }
  } catch (error) {
    if (!(error instanceof HttpProblem)) throw error
    return { problem: error }
  }
}

describe('request target property: the decision function', () => {
  it('never lets through a target any common server reads as a token or sign-up path, and what it lets through is exactly the target, RFC 3986 clean', () => {
    fc.assert(fc.property(TARGETS, (generated) => {
      const decision = decide(generated)
      if ('problem' in decision) {
        expect([[400, 'unsafe_path'], [403, 'path_forbidden']]).toContainEqual([decision.problem.statusCode, decision.problem.code])
        return
      }
      const { target } = decision
      expect(tokenPathReaders(target)).toEqual([])
      expect(target).toMatch(RFC_3986_TARGET)
      // The forwarded target is the request's own, without the route prefix (and an absolute-form's origin).
      expect(generated.raw.endsWith(generated.prefix + target)).toBe(true)
      if (generated.raw.startsWith('/')) expect(generated.raw).toBe(generated.prefix + target)
      // A WHATWG parser (as node:http servers use) reads back exactly that path and query.
      const url = new URL(target, 'http://upstream.invalid')
      const queryAt = target.indexOf('?')
      expect(url.pathname).toBe(queryAt === -1 ? target : target.slice(0, queryAt))
      // (WHATWG encodes ' in the query of an http URL.)
      expect(url.search.slice(1)).toBe(queryAt === -1 ? '' : target.slice(queryAt + 1).replaceAll("'", '%27'))
    }), { numRuns: 20_000 })
  })

  it('the generated targets are a real test: without the check, many reach a token or sign-up path somewhere', () => {
    const samples = fc.sample(TARGETS, { numRuns: 2_000, seed: 1 })
    const dangerous = samples.filter(({ raw, prefix }) => {
      const originForm = raw.replace(/^https?:\/\/[^/?#]+/i, '')
      return originForm.startsWith(prefix) && tokenPathReaders(originForm.slice(prefix.length)).length > 0
    })
    const allowed = samples.filter((sample) => 'target' in decide(sample))
    expect(dangerous.length).toBeGreaterThan(samples.length / 5)
    expect(allowed.length).toBeGreaterThan(samples.length / 20)
  })

  it('answers any string at all with a target or a 400/403 problem, never another error', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.constantFrom(...PREFIXES), fc.boolean(), (rest, prefix, withPrefix) => {
      const decision = decide({ raw: withPrefix ? `${prefix}/${rest}` : rest, prefix })
      if ('problem' in decision) expect([400, 403]).toContain(decision.problem.statusCode)
      else expect(tokenPathReaders(decision.target)).toEqual([])
    }), { numRuns: 20_000 })
  })

  it('lets ordinary paths and queries through unchanged', () => {
    fc.assert(fc.property(ORDINARY_TARGETS, ({ raw, prefix }) => {
      expect(passthroughTarget(raw, prefix)).toBe(raw.slice(prefix.length))
    }), { numRuns: 5_000 })
  })
})

describe('request target property: the compiled server on a real socket', () => {
  it('an upstream never receives a token or sign-up path, and receives every forwarded target byte for byte as decided (200 raw targets)', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: sim.apiUrl })
    const cookie = await realLogin(server.base)
    const logins = sim.counter('login')
    const parsed = await nodeParser()
    let sent = 0
    const outcomes = { forwarded: 0, unsafe: 0, forbidden: 0 }
    const targets = fc.oneof({ weight: 3, arbitrary: TARGETS.filter(({ raw }) => !/[\r\n]/.test(raw)) }, { weight: 1, arbitrary: ORDINARY_TARGETS })
    await fc.assert(fc.asyncProperty(targets, fc.constantFrom('GET', 'POST'), async (generated, method) => {
      const id = `request-target-${++sent}`
      const before = sim.requests.length
      const answer = await rawRequest(server.base, method, generated.raw, { cookie, 'content-type': 'application/json', 'x-request-id': id }, method === 'POST' ? '{}' : '')
      const received = sim.requests.slice(before)
      for (const record of received) expect(tokenPathReaders(record.url), record.url).toEqual([])
      expect(answer.statusCode).toBeGreaterThanOrEqual(400 * Number(received.length === 0))
      expect(answer.statusCode).toBeLessThan(500)

      // The check decides on the target as Node's parser hands it over (it drops the spaces
      // around it, before and after; a target it refuses never gets that far).
      const seen = await parsed(generated.raw)
      if (seen === undefined) {
        expect(received).toEqual([])
        expect(answer.statusCode).toBe(400)
        return
      }
      const sentTarget = generated.raw.replace(/^ +/, '')
      expect(sentTarget.startsWith(seen) && /^[ \t]*$/.test(sentTarget.slice(seen.length)), seen).toBe(true)
      const decision = decide({ raw: seen, prefix: generated.prefix })
      if ('problem' in decision) {
        // Refused by the check, or before it by the router: nothing went upstream.
        expect(received).toEqual([])
        expect([400, 403, 404]).toContain(answer.statusCode)
        if (answer.statusCode === 403) outcomes.forbidden++
        if (answer.statusCode === 400) outcomes.unsafe++
      } else {
        expect(received.map((record) => record.url)).toEqual([decision.target])
        expect(received[0]?.headers['x-request-id']).toBe(id)
        outcomes.forwarded++
      }
    }), {
      numRuns: 200,
      // Found by a CI run (noise put a space before the target; Node's parser drops it): the
      // sign-up path behind it is refused, and the test expects the target as parsed.
      examples: [[{ raw: ' /proxy/auth/auth-service/api/v2;/use%72s/signup?', prefix: '/proxy/auth' }, 'GET']]
    })
    // Each outcome happened often enough for the run to mean something (unseeded runs vary: a
    // forbidden count of 8 in 200 was seen, so the floors are well under the usual counts).
    expect(outcomes.forwarded, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(10)
    expect(outcomes.forbidden, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(3)
    expect(outcomes.unsafe, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(3)
    expect(sim.counter('refresh')).toBe(0)
    expect(sim.counter('signup')).toBe(0)
    expect(sim.counter('login')).toBe(logins)
    expect(await alive(server)).toBe(true)
  }, 180_000)

  it('named routes: an agentId or userId with #, %2F, .. or a lookalike never moves the upstream path (100 raw targets)', async () => {
    const sim = await startSimulator()
    onCleanup(sim.close)
    const server = await startRealServer({ authUrl: sim.authUrl, apiUrl: sim.apiUrl })
    const cookie = await realLogin(server.base)
    const decorations = fc.oneof({ weight: 2, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('#', '#x', '%23', '/', '%2F', '%2f', '%252F', '..', '%2e%2e', '.', '?x=1', '%3F', ';x', '\\', '%5C', '%C3%A9', '%20', '%00', '%zz', '/..', '/../..') })
    const ids = fc.tuple(decorations, fc.constantFrom('1', '2', 'abc', 'A-b_9', 'refresh-access-token', 'signup', 'login', 'token').chain((id) =>
      fc.tuple(...[...id].map(disguisedCharacter)).map((characters) => characters.join(''))), decorations)
      .map((parts) => parts.join(''))
      .filter((id) => !/[\r\n]/.test(id))
    const routes = [
      { method: 'POST', path: (id: string) => `/api/agents/${id}/chat-threads`, upstream: /^\/api\/agent\/([A-Za-z0-9_-]{1,64})\/chat-thread$/ },
      { method: 'PATCH', path: (id: string) => `/api/users/${id}`, upstream: /^\/api\/users\/([A-Za-z0-9_-]{1,64})$/ }
    ] as const
    let forwarded = 0
    await fc.assert(fc.asyncProperty(fc.constantFrom(...routes), ids, fc.boolean(), async (route, id, absolute) => {
      const before = sim.requests.length
      const target = `${absolute ? 'http://evil.example' : ''}${route.path(id)}`
      const answer = await rawRequest(server.base, route.method, target, { cookie, 'content-type': 'application/json' }, '{"full_name":"x"}')
      expect(answer.statusCode).toBeLessThan(500)
      const received = sim.requests.slice(before)
      expect(received.length).toBeLessThanOrEqual(1)
      forwarded += received.length
      for (const record of received) {
        expect(record.method).toBe(route.method)
        // The id is a safe one and is the id as the router read it (up to a ? or #, decoded): nothing else reaches the path.
        const forwardedId = route.upstream.exec(record.url)?.[1]
        expect(forwardedId, record.url).toBeDefined()
        expect(forwardedId).toBe(unquote(id.split(/[?#]/)[0] as string))
        if (record.method === 'POST') expect(tokenPathReaders(record.url)).toEqual([])
      }
    }), { numRuns: 100 })
    expect(forwarded).toBeGreaterThanOrEqual(10)
    expect(forwarded).toBeLessThanOrEqual(90)
    expect(sim.counter('refresh')).toBe(0)
    expect(await alive(server)).toBe(true)
  }, 120_000)
})
