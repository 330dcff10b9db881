import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe } from 'vitest'
import { onCleanup } from './app.js'
import { waitFor } from './processes.js'
import { freePort } from './ports.js'

/**
 * Debian's nginx, which `npm test` installs when it is missing (scripts/ensure-test-tools.sh),
 * or NGINX_PATH. Without it the nginx tests are skipped with a one-line reason, except in CI
 * (`CI` set, as .ci/run runs): there they run and fail, so CI can never pass without them.
 */
export const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx'
const required = (process.env.CI ?? '') !== '' && process.env.CI !== 'false'
export const nginxAvailable = spawnSync(NGINX, ['-v']).status === 0

if (!nginxAvailable && !required) console.warn(`nginx tests skipped: no nginx at ${NGINX} (npm test installs it as root, or set NGINX_PATH; in CI this is a failure)`)

/** `describe` for tests that need nginx: skipped without one, unless in CI. */
export const describeWithNginx = nginxAvailable || required ? describe : describe.skip

/** A self-signed certificate for 127.0.0.1 made by openssl, valid for a day. */
export interface Certificate {
  certFile: string
  keyFile: string
  /** The certificate itself (PEM): a client trusts it as its only CA. */
  pem: string
}

export async function selfSignedCertificate (): Promise<Certificate> {
  const dir = await mkdtemp(join(tmpdir(), 'bff-cert-'))
  onCleanup(async () => { await rm(dir, { recursive: true, force: true }) })
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', keyFile, '-out', certFile
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  return { certFile, keyFile, pem: await readFile(certFile, 'utf8') }
}

export interface Nginx {
  /** The port it listens on, on 127.0.0.1. */
  port: number
  stderr: () => string
}

/**
 * Runs nginx in the foreground as a child process, killed after the test. `http(port)` is the
 * content of its `http { }` block, given the free port to listen on; around it, only what a
 * throwaway nginx needs: its pid file, logs and temporary files in a folder of its own.
 */
export async function startNginx (http: (port: number) => string): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'bff-nginx-'))
  onCleanup(async () => { await rm(dir, { recursive: true, force: true }) })
  // As root, the master drops its workers to nobody, which must reach the temporary folders
  // (nginx makes them, owned by the workers' user) inside this one.
  await chmod(dir, 0o755)
  const port = await freePort()
  const config = join(dir, 'nginx.conf')
  await writeFile(config, [
    process.getuid?.() === 0 ? 'user nobody nogroup;' : '',
    'worker_processes 1;',
    'pid nginx.pid;',
    'error_log stderr notice;',
    'events { worker_connections 512; }',
    'http {',
    '    access_log access.log;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${kind}-temp;`),
    http(port),
    '}',
    ''
  ].join('\n'))

  const child = spawn(NGINX, ['-p', `${dir}/`, '-c', config, '-e', 'stderr', '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  let failure: Error | undefined
  child.once('error', (error) => { failure = error })
  const stopped = (): boolean => failure !== undefined || child.exitCode !== null || child.signalCode !== null
  const closed = new Promise((resolve) => child.once('close', resolve))
  onCleanup(async () => {
    if (stopped()) return
    // TERM: a fast shutdown of the master and its workers (a KILLed master would leave them running).
    child.kill('SIGTERM')
    await closed
  })

  const listening = await waitFor(async () => stopped() || await accepts(port), 10_000, 50)
  if (!listening || stopped()) throw new Error(`${NGINX} did not start on 127.0.0.1:${port}: ${failure?.message ?? stderr}`)
  return { port, stderr: () => stderr }
}

async function accepts (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
