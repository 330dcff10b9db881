import type { AddressInfo } from 'node:net'
import { Client } from 'undici'
import { describe, expect, it } from 'vitest'
import { login, onCleanup, setup } from './helpers/app.js'
import { waitFor } from './helpers/processes.js'
import type { TestContext } from './helpers/app.js'

const ROUTE = '/api/agents/:agentId/chat-threads'
const REQUESTS = 'ejento_bff_http_request_duration_seconds'
const UPSTREAM = 'ejento_bff_upstream_request_duration_seconds'
const REFRESHES = 'ejento_bff_token_refreshes_total'
const OPEN_STREAMS = 'ejento_bff_open_streams'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses the Prometheus text exposition format (comments skipped, label values unescaped). */
function parseExposition (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line)
    if (match === null) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    const labelText = match[2] ?? ''
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/g
    let consumed = 0
    for (const label of labelText.matchAll(labelPattern)) {
      if (label.index !== consumed) throw new Error(`malformed labels: ${line}`)
      consumed = label.index + label[0].length
      labels[label[1] as string] = (label[2] as string).replace(/\\(["\\n])/g, (_all, escaped: string) => escaped === 'n' ? '\n' : escaped)
    }
    if (consumed !== labelText.length) throw new Error(`malformed labels: ${line}`)
    const raw = match[3] as string
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : /^nan$/i.test(raw) ? NaN : Number(raw)
    if (Number.isNaN(value) && !/^nan$/i.test(raw)) throw new Error(`bad value: ${line}`)
    samples.push({ name: match[1] as string, labels, value })
  }
  return samples
}

class Scrape {
  constructor (readonly samples: Sample[]) {}

  /** Samples of this name whose labels include all of `labels`. */
  find (name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
  }

  /** The value of the one sample with exactly these labels (le aside), or 0 when the series does not exist yet. */
  value (name: string, labels: Record<string, string> = {}): number {
    const found = this.samples.filter((sample) => sample.name === name &&
      Object.keys(sample.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    if (found.length > 1) throw new Error(`several samples of ${name} ${JSON.stringify(labels)}`)
    return found[0]?.value ?? 0
  }

  /** Every value a label takes over the samples of this name. */
  labelValues (name: string, label: string): string[] {
    return [...new Set(this.find(name).map((sample) => sample.labels[label]).filter((value) => value !== undefined))]
  }
}

async function scrape (context: TestContext): Promise<Scrape> {
  const response = await context.app.inject({ method: 'GET', url: '/metrics' })
  expect(response.statusCode).toBe(200)
  expect(response.headers['content-type']).toMatch(/^text\/plain/)
  return new Scrape(parseExposition(response.body))
}

async function createThread (context: TestContext, cookie: string, agentId: string | number = 1): Promise<{ statusCode: number, body: string }> {
  const response = await context.app.inject({ method: 'POST', url: `/api/agents/${agentId}/chat-threads`, headers: { cookie } })
  return { statusCode: response.statusCode, body: response.body }
}

describe('GET /metrics', () => {
  it('answers the Prometheus text format with the process metrics', async () => {
    const context = await setup()
    const metrics = await scrape(context)
    expect(metrics.find('ejento_bff_process_cpu_seconds_total')).toHaveLength(1)
    expect(metrics.value('ejento_bff_process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(metrics.find('ejento_bff_process_resident_memory_bytes').length + metrics.find('ejento_bff_nodejs_heap_size_used_bytes').length).toBeGreaterThan(0)
    // Declared even before anything happened.
    const text = (await context.app.inject({ method: 'GET', url: '/metrics' })).body
    for (const name of [REQUESTS, UPSTREAM, REFRESHES, OPEN_STREAMS, 'ejento_bff_session_store_errors_total']) {
      expect(text).toContain(`# TYPE ${name} `)
    }
    expect(metrics.value(OPEN_STREAMS)).toBe(0)
  })

  it('counts a proxied request under its route template and the upstream calls behind it', async () => {
    const context = await setup()
    const cookie = await login(context)
    const thread = await createThread(context, cookie)
    expect(thread.statusCode).toBe(201)

    const metrics = await scrape(context)
    expect(metrics.value(`${REQUESTS}_count`, { route: ROUTE, method: 'POST', status: '201' })).toBe(1)
    expect(metrics.value(`${REQUESTS}_sum`, { route: ROUTE, method: 'POST', status: '201' })).toBeGreaterThan(0)
    expect(metrics.value(`${REQUESTS}_bucket`, { route: ROUTE, method: 'POST', status: '201', le: '+Inf' })).toBe(1)
    expect(metrics.value(`${REQUESTS}_count`, { route: '/auth/login', method: 'POST', status: '200' })).toBe(1)

    expect(metrics.value(`${UPSTREAM}_count`, { upstream: 'ejento', status: '201' })).toBe(1)
    // The log-in is two calls to the authentication server: the log-in, and who-am-I for the full name.
    expect(metrics.value(`${UPSTREAM}_count`, { upstream: 'auth', status: '200' })).toBe(2)
    expect(metrics.labelValues(`${UPSTREAM}_count`, 'upstream').sort()).toEqual(['auth', 'ejento'])
    // No refresh was needed.
    expect(metrics.find(REFRESHES)).toEqual([])
  })

  it('counts a reactive refresh as refreshed', async () => {
    const context = await setup()
    const cookie = await login(context)
    expect((await createThread(context, cookie)).statusCode).toBe(201)

    context.sim.expireTokens('ejento')
    expect((await createThread(context, cookie)).statusCode).toBe(201)

    const metrics = await scrape(context)
    expect(metrics.value(REFRESHES, { outcome: 'refreshed' })).toBe(1)
    expect(metrics.value(REFRESHES, { outcome: 'refused' })).toBe(0)
    // The refused first try, the refresh, and the retry.
    expect(metrics.value(`${UPSTREAM}_count`, { upstream: 'ejento', status: '401' })).toBe(1)
    expect(metrics.value(`${UPSTREAM}_count`, { upstream: 'ejento', status: '201' })).toBe(2)
    // The log-in and its who-am-I, and the refresh.
    expect(metrics.value(`${UPSTREAM}_count`, { upstream: 'auth', status: '200' })).toBe(3)
    expect(metrics.value(`${REQUESTS}_count`, { route: ROUTE, method: 'POST', status: '201' })).toBe(2)
  })

  it('counts a refused refresh as refused', async () => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.expireTokens('all')
    const refused = await createThread(context, cookie)
    expect(refused.statusCode).toBe(401)
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'session_expired' })

    const metrics = await scrape(context)
    expect(metrics.value(REFRESHES, { outcome: 'refused' })).toBe(1)
    expect(metrics.value(REFRESHES, { outcome: 'refreshed' })).toBe(0)
    expect(metrics.value(`${REQUESTS}_count`, { route: ROUTE, method: 'POST', status: '401' })).toBe(1)
  })

  it('counts a refresh the upstream failed (5xx) as failed, and the failing auth call', async () => {
    const context = await setup()
    const cookie = await login(context)
    context.sim.expireTokens('ejento')
    context.sim.inject({ upstream: 'auth', method: 'POST', path: '/api/users/refresh-access-token', status: 503, body: { detail: 'Service Unavailable' } })
    const failed = await createThread(context, cookie)
    expect(failed.statusCode).toBe(502)

    const metrics = await scrape(context)
    expect(metrics.value(REFRESHES, { outcome: 'failed' })).toBe(1)
    expect(metrics.value(REFRESHES, { outcome: 'refreshed' })).toBe(0)
    expect(metrics.value(REFRESHES, { outcome: 'refused' })).toBe(0)
    expect(metrics.value(`${UPSTREAM}_count`, { upstream: 'auth', status: '503' })).toBe(1)
  })

  it('never turns raw ids or paths into label values', async () => {
    const context = await setup()
    const cookie = await login(context)
    for (const agentId of [1, 2, 3, 4, 5]) await createThread(context, cookie, agentId)
    // Tricks: a traversal, an encoded slash, an overlong id, a query string, odd characters.
    const tricks = [
      '/api/agents/..%2F..%2Fusers/chat-threads',
      '/api/agents/1%2F2/chat-threads',
      '/api/agents/%2e%2e/chat-threads',
      `/api/agents/${'7'.repeat(200)}/chat-threads`,
      '/api/agents/9?route=evil/chat-threads',
      '/api/agents/1/chat-threads?agentId=66666',
      '/api/agents/a%22b/chat-threads'
    ]
    for (const url of tricks) {
      const response = await context.app.inject({ method: 'POST', url, headers: { cookie } })
      expect(response.statusCode, url).toBeGreaterThanOrEqual(200)
    }
    // Unknown paths, and a known template without a session.
    const unknown = await context.app.inject({ method: 'GET', url: '/api/agents/12345/nothing-here' })
    expect(unknown.statusCode).toBe(404)
    await context.app.inject({ method: 'GET', url: '/no/such/path/98765' })
    await context.app.inject({ method: 'POST', url: '/api/agents/4242/chat-threads' })
    // Passthrough calls: the raw path must not become a label either.
    await context.app.inject({ method: 'GET', url: '/proxy/ejento/api/agent/31337/whatever', headers: { cookie } })

    const metrics = await scrape(context)
    const routes = metrics.labelValues(`${REQUESTS}_count`, 'route')
    expect(routes).toContain(ROUTE)
    expect(routes).toContain('unmatched')
    expect(routes).toContain('/proxy/ejento/*')
    for (const route of routes) {
      expect(route, 'every route label is a registered template or "unmatched"').toMatch(/^(unmatched|\/[a-z/:*A-Z-]*)$/)
      expect(route).not.toMatch(/\d{3,}|%|\.\.|\?|"/)
    }
    expect(metrics.value(`${REQUESTS}_count`, { route: 'unmatched', method: 'GET', status: '404' })).toBe(2)
    // The five agent ids are one series per outcome, never one per id; a trick that no route
    // matches (a query hiding the rest of the path) is counted as unmatched.
    const agentSeries = metrics.find(`${REQUESTS}_count`, { route: ROUTE })
    expect(agentSeries.map((sample) => sample.labels.status).sort()).toEqual(['201', '400', '401', '404'])
    const posts = [...agentSeries, ...metrics.find(`${REQUESTS}_count`, { route: 'unmatched', method: 'POST' })]
    expect(posts.reduce((total, sample) => total + sample.value, 0)).toBe(5 + tricks.length + 1)
    expect(metrics.value(`${REQUESTS}_count`, { route: ROUTE, method: 'POST', status: '201' })).toBeGreaterThanOrEqual(2)
    // No label of any series carries a raw id.
    // (Only the label sets: a sample's value, say a byte count, may contain any digits.)
    const text = (await context.app.inject({ method: 'GET', url: '/metrics' })).body
    const labelSets = text.split('\n').filter((line) => !line.startsWith('#')).map((line) => /\{(.*)\}/.exec(line)?.[1] ?? '').join('\n')
    for (const raw of ['12345', '98765', '4242', '31337', '66666', '7777777', 'evil', 'nothing-here', 'users/chat', '%2F', 'a"b']) {
      expect(labelSets, raw).not.toContain(raw)
    }
    for (const label of ['upstream', 'status', 'method', 'outcome']) {
      for (const name of [`${REQUESTS}_count`, `${UPSTREAM}_count`]) {
        for (const value of metrics.labelValues(name, label)) expect(value).toMatch(/^[a-z0-9A-Z_]{1,20}$/)
      }
    }
  })

  it('counts an upstream that is down as status="unavailable"', async () => {
    const context = await setup()
    const cookie = await login(context)
    await context.sim.close()
    const response = await createThread(context, cookie)
    expect(response.statusCode).toBe(502)
    expect(JSON.parse(response.body)).toMatchObject({ code: 'upstream_unavailable' })

    const metrics = await scrape(context)
    expect(metrics.value(`${UPSTREAM}_count`, { upstream: 'ejento', status: 'unavailable' })).toBe(1)
    expect(metrics.value(`${REQUESTS}_count`, { route: ROUTE, method: 'POST', status: '502' })).toBe(1)
  })

  it('shows an open stream in the gauge while it is sent, and 0 after it ended', async () => {
    const context = await setup({ sim: { streamIntervalMs: 100 } })
    const cookie = await login(context)
    const thread = await context.app.inject({ method: 'POST', url: '/api/agents/1/chat-threads', headers: { cookie } })
    const threadId = (thread.json() as { data: { id: number } }).data.id
    await context.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = context.app.server.address() as AddressInfo
    const client = new Client(`http://127.0.0.1:${port}`)
    onCleanup(async () => { await client.destroy() })

    expect((await scrape(context)).value(OPEN_STREAMS)).toBe(0)
    const response = await client.request({
      method: 'POST',
      path: '/api/agents/1/responses',
      headers: { cookie, accept: 'text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ user_query: 'How many streams are open?', chat_thread_id: threadId })
    })
    expect(response.statusCode).toBe(200)
    let text = ''
    let gaugeWhileOpen: number | undefined
    for await (const chunk of response.body) {
      text += String(chunk)
      if (gaugeWhileOpen === undefined && text.includes('event: token')) gaugeWhileOpen = (await scrape(context)).value(OPEN_STREAMS)
    }
    expect(gaugeWhileOpen).toBe(1)
    expect(text).toContain('event: end')
    expect(await waitFor(async () => (await scrape(context)).value(OPEN_STREAMS) === 0, 5_000)).toBe(true)
    const metrics = await scrape(context)
    expect(metrics.value(`${REQUESTS}_count`, { route: '/api/agents/:agentId/responses', method: 'POST', status: '200' })).toBe(1)
    expect(metrics.value(`${UPSTREAM}_count`, { upstream: 'ejento', status: '200' })).toBe(1)
  })
})
