import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { loadConfig } from '../src/config/index.js'

// No Docker engine runs here, so the compose stack is checked by what it says: its settings
// must pass the real config loader and agree with the Dockerfile and the nginx config.
const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, any>, volumes?: Record<string, unknown> }
// Compose's nginx site; the proxy settings it includes are the ones the README's production setup includes.
const nginx = readFileSync('deploy/nginx.conf', 'utf8')
const proxySettings = readFileSync('deploy/nginx/bff-proxy.conf', 'utf8')
const image = JSON.parse(execFileSync('node', ['scripts/dockerfile-steps.mjs', '--dry-run', '.', '/nonexistent'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as {
  image: string
  workdir: string
  env: Record<string, string>
  user: string
  cmd: string[]
  contextExcludes: Record<string, boolean>
}

/** A compose environment as the container sees it: `${NAME:-default}` takes its default. */
function environment (service: string): Record<string, string> {
  const env = compose.services[service].environment as Record<string, string | number>
  return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, String(value).replace(/\$\{\w+:-([^}]*)\}/g, '$1')]))
}

describe('docker-compose.yml', () => {
  it('runs two BFF replicas whose settings (over the image\'s ENV) pass the config loader, sharing Redis', () => {
    const bff = compose.services.bff
    expect(bff.deploy.replicas).toBe(2)
    // STATIC_DIR names the image's folder; here the same files are in ./web.
    const config = loadConfig({ ...image.env, ...environment('bff'), STATIC_DIR: 'web' })
    expect(config.redis).toMatchObject({ mode: 'standalone', url: 'redis://redis:6379' })
    expect(config.host).toBe('0.0.0.0')
    expect(config.session.secrets[0]?.length).toBeGreaterThanOrEqual(32)
    expect(bff.depends_on.redis.condition).toBe('service_healthy')
    // The grace period fits in the time compose gives before SIGKILL.
    expect(Number.parseInt(bff.stop_grace_period, 10) * 1000).toBeGreaterThan(config.shutdownGraceMs)
  })

  it('runs Redis with append-only persistence on a volume, so a Redis restart keeps the sessions', () => {
    const redis = compose.services.redis
    const command = (redis.command as string[]).join(' ')
    expect(command).toContain('--appendonly yes')
    expect(redis.volumes).toContain('redis-data:/data')
    expect(Object.keys(compose.volumes ?? {})).toContain('redis-data')
  })

  it('serves the example page from the folder the image copies it to', () => {
    expect(environment('bff').STATIC_DIR).toBe(`${image.workdir}/web`)
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(/^COPY (--chown=\S+ )?web \.\/web$/m)
  })

  it('points the BFF at the simulator service on the ports the simulator listens on', () => {
    const env = environment('bff')
    const sim = environment('simulator')
    expect(new URL(env.EJENTO_AUTH_URL as string)).toMatchObject({ hostname: 'simulator', port: sim.SIM_AUTH_PORT })
    expect(new URL(env.EJENTO_API_URL as string)).toMatchObject({ hostname: 'simulator', port: sim.SIM_API_PORT })
    expect(sim.SIM_HOST).toBe('0.0.0.0')
    const [, script] = compose.services.simulator.command as string[]
    expect(existsSync((script as string).replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))).toBe(true)
  })

  it('puts nginx in front with the config file that balances over the replicas\' port', () => {
    const lb = compose.services.lb
    expect(lb.volumes).toContain('./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro')
    expect(lb.ports).toContain('8080:80')
    expect(nginx).toMatch(new RegExp(`server bff:${image.env.PORT} resolve;`))
  })

  it('mounts every file deploy/nginx.conf includes, from deploy/nginx/', () => {
    const mounts = (compose.services.lb.volumes as string[]).map((volume) => volume.split(':') as [string, string, string?])
    const includes = [...nginx.matchAll(/^\s*include (\S+);/gm)].map((match) => match[1] as string)
    expect(includes).toEqual(['/etc/nginx/ejento-bff/request-id.conf', '/etc/nginx/ejento-bff/bff-proxy.conf'])
    for (const included of includes) {
      const mount = mounts.find(([, target]) => included.startsWith(`${target}/`))
      expect(mount, included).toBeDefined()
      const [source, target] = mount as [string, string]
      expect(source).toBe('./deploy/nginx')
      expect(existsSync(source + included.slice(target.length)), included).toBe(true)
    }
  })
})

// test/deployment-nginx.test.ts runs these settings behind TLS; here, what must not change unnoticed.
describe('deploy/nginx/bff-proxy.conf', () => {
  it('streams answers unbuffered, forwards the host and scheme, and keeps /metrics private', () => {
    expect(proxySettings).toContain('proxy_buffering off;')
    expect(proxySettings).toContain('proxy_set_header X-Forwarded-Host $http_host;')
    expect(proxySettings).toContain('proxy_set_header X-Forwarded-Proto $scheme;')
    expect(proxySettings).toMatch(/location = \/metrics \{\s*return 404;/)
    // The compose BFF trusts the compose network's private range, where nginx is; a hop count would trust nobody.
    expect(environment('bff').TRUST_PROXY).toBe('uniquelocal')
  })

  it('never resends a POST to another replica (no non_idempotent retry)', () => {
    expect(proxySettings).toMatch(/proxy_next_upstream [^;]*http_503/)
    expect(proxySettings).not.toContain('non_idempotent')
  })
})

describe('Dockerfile', () => {
  it('runs its CMD from dist on Node.js 24 as a non-root user, with production settings, and keeps secrets out of the build context', () => {
    expect(image.image).toMatch(/^node:24(\b|-)/)
    expect(image.user).toBe('node')
    expect(image.env).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' })
    expect(image.cmd).toEqual(['node', 'dist/server.js'])
    expect(Object.values(image.contextExcludes)).not.toContain(false)
  })
})
