import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { onCleanup } from './helpers/app.js'
import { ROOT, waitFor, within } from './helpers/processes.js'
import { V2 } from './helpers/profiles.js'

/** `npm run simulator`'s entry point with exactly `env` (plus PATH); its output so far, and its exit. */
function runSimulator (env: Record<string, string>): { output: () => string, exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/simulator/cli.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  onCleanup(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('exit', resolve))
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  return { output: () => output, exited: new Promise((resolve) => child.once('exit', resolve)) }
}

describe('npm run simulator', () => {
  it('takes its SIM_ variables, prints the demo accounts and the BFF variables that point at it; the accounts log in there', { timeout: 30_000 }, async () => {
    const key = 'sim-cli-subscription-key-0123'
    const simulator = runSimulator({ SIM_HOST: '127.0.0.1', SIM_AUTH_PORT: '0', SIM_API_PORT: '0', SIM_PROFILE: 'v2', SIM_SUBSCRIPTION_KEY: key, SIM_TOKEN_TTL: '120' })
    expect(await waitFor(() => simulator.output().includes('Point the BFF at it'), 20_000, 50), simulator.output()).toBe(true)
    const printed = simulator.output()
    expect(printed).toContain('demo@example.com / demo-password')
    expect(printed).toContain('admin@example.com / admin-password')
    // The key is the operator's: named, never printed.
    expect(printed).not.toContain(key)
    const authUrl = /EJENTO_AUTH_URL=(http:\/\/127\.0\.0\.1:\d+)/.exec(printed)?.[1] as string
    expect(authUrl).toBeDefined()
    expect(printed).toMatch(/EJENTO_API_URL=http:\/\/127\.0\.0\.1:\d+ EJENTO_PATH_PROFILE=v2 EJENTO_SUBSCRIPTION_KEY=<the value of SIM_SUBSCRIPTION_KEY> COOKIE_SECURE=false/)

    const logIn = async (headers: Record<string, string>): Promise<Response> => await fetch(`${authUrl}${V2.paths.auth.login}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: 'username=demo%40example.com&password=demo-password'
    })
    // SIM_SUBSCRIPTION_KEY: the gateway wants it; SIM_PROFILE=v2: hosted Ejento's paths.
    const refused = await logIn({})
    expect(refused.status).toBe(401)
    await refused.arrayBuffer()
    const answer = await logIn({ 'ocp-apim-subscription-key': key })
    expect(answer.status).toBe(200)
    // SIM_TOKEN_TTL: the tokens live 120 s.
    const tokens = (await answer.text()).match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g) ?? []
    expect(tokens.length).toBeGreaterThan(0)
    for (const token of tokens) {
      const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { iat: number, exp: number }
      expect(claims.exp - claims.iat).toBe(120)
    }
  })

  it('stops at a bad variable with one line naming it', async () => {
    for (const [name, value] of [['SIM_AUTH_PORT', 'eighty'], ['SIM_TOKEN_TTL', '0'], ['SIM_PROFILE', 'v3']]) {
      const simulator = runSimulator({ SIM_AUTH_PORT: '0', SIM_API_PORT: '0', [name as string]: value as string })
      expect(await within(15_000, simulator.exited, 'the simulator exiting')).toBe(1)
      expect(simulator.output().trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^ejento simulator: ${name} must be .*"${value}"`))])
    }
  })
})
