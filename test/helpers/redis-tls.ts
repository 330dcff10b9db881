import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { onCleanup } from './app.js'
import type { CleanupScope } from './app.js'
import { freePort } from './ports.js'
import { startRedisProcess, tempFolder } from './redis-process.js'
import type { RedisProcess } from './redis-process.js'

const run = promisify(execFile)

/** Files openssl made for one test: a CA, a server certificate it signed, and an unrelated CA. */
export interface TestCertificates {
  dir: string
  /** The CA that signed the server's certificate (what REDIS_TLS_CA names). */
  caFile: string
  ca: string
  /** A CA that signed nothing here: trusting only it must refuse the server. */
  otherCaFile: string
  certFile: string
  keyFile: string
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** A private CA and a certificate for 127.0.0.1 and localhost it signed, made by openssl now (valid for a day). */
export async function makeCertificates (cleanup: CleanupScope = onCleanup): Promise<TestCertificates> {
  const dir = await tempFolder('redis-tls', cleanup)
  const file = (name: string): string => join(dir, name)
  await run('openssl', ['req', '-x509', ...EC, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1', '-subj', '/CN=BFF test Redis CA'])
  await run('openssl', ['req', '-x509', ...EC, '-keyout', file('other-ca.key'), '-out', file('other-ca.pem'), '-days', '1', '-subj', '/CN=BFF test unrelated CA'])
  await run('openssl', ['req', ...EC, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost'])
  await writeFile(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n')
  await run('openssl', ['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.pem'), '-days', '1', '-extfile', file('server.ext')])
  return { dir, caFile: file('ca.pem'), ca: await readFile(file('ca.pem'), 'utf8'), otherCaFile: file('other-ca.pem'), certFile: file('server.pem'), keyFile: file('server.key') }
}

/** redis-server's arguments for TLS only (`--port 0`: no plain port), clients not asked for certificates. */
export function tlsArguments (certificates: TestCertificates, port: number): string[] {
  return [
    '--port', '0', '--tls-port', String(port),
    '--tls-cert-file', certificates.certFile, '--tls-key-file', certificates.keyFile, '--tls-ca-cert-file', certificates.caFile,
    '--tls-auth-clients', 'no'
  ]
}

/**
 * An ACL user with every right, and `default` switched off: only this user gets in. With
 * `persist`, `default` is on with a password nobody is given instead (as closed to clients):
 * Redis replays an append-only file as `default`, and with it off, a Redis without the fix of
 * redis/redis#14541 (Debian's 7.0 here) drops every MULTI/EXEC there (the effects of the
 * session store's scripts, "-NOPERM ACLs rules changed"): every session lost at a restart.
 */
export function aclArguments (user: string, password: string, persist = false): string[] {
  const defaultUser = persist ? ['on', `>${randomBytes(18).toString('base64url')}`, '~*', '&*', '+@all'] : ['off']
  return ['--user', user, 'on', `>${password}`, '~*', '&*', '+@all', '--user', 'default', ...defaultUser]
}

export interface TlsRedis extends RedisProcess {
  /** `rediss://user:password@127.0.0.1:port` */
  url: string
}

/**
 * A TLS-only redis-server on a free port with an ACL user, as a managed Redis is. `persist`:
 * an append-only file synced on every write, so that a kill and a restart keep the data (an outage).
 */
export async function startTlsRedis (certificates: TestCertificates, user: string, password: string, cleanup: CleanupScope = onCleanup, options: { persist?: boolean } = {}): Promise<TlsRedis> {
  const port = await freePort()
  const persistence = options.persist === true ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
  const server = await startRedisProcess({
    args: [...tlsArguments(certificates, port), ...aclArguments(user, password, options.persist), '--bind', '127.0.0.1', '--save', '', ...persistence],
    port,
    dir: await tempFolder('redis-tls-data', cleanup),
    client: { tls: { ca: certificates.ca }, username: user, password },
    cleanup
  })
  return { ...server, url: `rediss://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}` }
}
