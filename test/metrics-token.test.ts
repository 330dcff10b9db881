import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config/index.js'
import { setup } from './helpers/app.js'

const TOKEN = 'scrape-token-0123456789abcdef'

describe('METRICS_TOKEN', () => {
  it('keeps /metrics open when unset', async () => {
    const context = await setup()
    const response = await context.app.inject({ method: 'GET', url: '/metrics' })
    expect(response.statusCode).toBe(200)
    expect(response.body).toContain('ejento_bff_http_request_duration_seconds')
  })

  it('answers 401 problem JSON without the bearer token, or with a wrong one, and the metrics with it', async () => {
    const context = await setup({ env: { METRICS_TOKEN: TOKEN } })
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, TOKEN, `Basic ${TOKEN}`]) {
      const refused = await context.app.inject({ method: 'GET', url: '/metrics', headers: authorization === undefined ? {} : { authorization } })
      expect(refused.statusCode, authorization).toBe(401)
      expect(refused.headers['content-type']).toContain('application/problem+json')
      expect(refused.headers['www-authenticate']).toBe('Bearer realm="metrics"')
      expect(refused.json().code).toBe('not_authenticated')
      expect(refused.body).not.toContain('ejento_bff_')
    }
    const allowed = await context.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
    expect(allowed.statusCode).toBe(200)
    expect(allowed.body).toContain('ejento_bff_http_request_duration_seconds')
    // The token never reaches a log line.
    expect(context.logs.join('\n')).not.toContain(TOKEN)
  })

  it('refuses a short or unprintable token at start, naming the variable', () => {
    const env = { EJENTO_AUTH_URL: 'http://127.0.0.1:1', EJENTO_API_URL: 'http://127.0.0.1:2', SESSION_SECRET: 'x'.repeat(32) }
    expect(() => loadConfig({ ...env, METRICS_TOKEN: 'short' })).toThrow(/^METRICS_TOKEN must be at least 16 characters$/)
    expect(() => loadConfig({ ...env, METRICS_TOKEN: 'sixteen chars plus spaces' })).toThrow(/^METRICS_TOKEN must be printable ASCII/)
    expect(loadConfig({ ...env, METRICS_TOKEN: TOKEN }).metricsToken).toBe(TOKEN)
  })
})
