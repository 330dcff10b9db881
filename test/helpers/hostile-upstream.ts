import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { startSimulator } from '../../src/simulator/index.js'
import { onFileCleanup } from './app.js'
import type { CleanupScope } from './app.js'
import type { TestProfile } from './profiles.js'
import { realLogin, startRealServer } from './real-server.js'
import type { RealServer } from './real-server.js'

/**
 * Set-up shared by the regression tests that put the compiled server in front of an Ejento API
 * server written in the test (one that echoes credentials, cuts streams, ...): the hostile
 * upstream's plumbing, and the text helpers their checks use.
 */

/** Starts `server` (node:net or node:http) on a free local port; its base URL. Closed as `cleanup` says. */
export async function listenLocally (server: Server, cleanup: CleanupScope): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanup(async () => { await new Promise((resolve) => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/**
 * A raw TCP server that hands each connection's request head (latin1, up to its blank line) to
 * `answer`, once; whatever follows on that connection is ignored. Raw, so that a test can write
 * its answer piece by piece, cut it, or reset the connection.
 */
export function rawUpstream (answer: (head: string, socket: Socket) => void): Server {
  return createServer((socket: Socket) => {
    socket.on('error', () => {})
    let head = ''
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return
      head += chunk.toString('latin1')
      if (head.includes('\r\n\r\n')) answer(head, socket)
    })
  })
}

/** The agent id of a response call's request head (`/agents/ID/responses`, either profile), or ''. */
export function agentOf (head: string): string {
  return /^\S+ \S*\/agents?\/([^/]+)\/responses?/.exec(head)?.[1] ?? ''
}

/** A whole raw 404 answer, for a call the hostile upstream does not script. */
export const RAW_NOT_FOUND = 'HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}'

/** `piece` as one chunk of a chunked body. */
export function chunkOf (piece: string): string {
  return `${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`
}

/** The compiled server, listening, and the session cookie of a log-in over its socket. */
export interface LoggedInServer {
  server: RealServer
  cookie: string
}

/**
 * For `beforeAll`: this profile's simulator as the authentication server, the API server that
 * `startApi` starts (its base URL), and the compiled server in front of both, logged in over
 * the real socket. Everything is closed after the file.
 */
export async function startBehindHostileApi (profile: TestProfile, startApi: (cleanup: CleanupScope) => Promise<string>): Promise<LoggedInServer> {
  const sim = await startSimulator(profile.sim)
  onFileCleanup(sim.close)
  const apiUrl = await startApi(onFileCleanup)
  const server = await startRealServer({ authUrl: sim.authUrl, apiUrl }, profile.env, onFileCleanup)
  return { server, cookie: await realLogin(server.base) }
}

/** Every character as a JSON `\uXXXX` escape: what a JSON reader decodes back to the same string. */
export function jsonEscaped (text: string): string {
  return [...text].map((character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')
}

/** Every JSON escape decoded, as a reader's JSON.parse would: what the browser could read. */
export function decoded (text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})/g, (_escape, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))).replace(/\\\//g, '/')
}
