import { Agent, request } from 'undici'
import type { Dispatcher } from 'undici'
import type { Ledger } from './ledger.js'

/** The session cookie's name with COOKIE_SECURE=false. */
export const COOKIE_NAME = 'ejento_bff'

/** Where a browser sends a call: a BFF instance's index and address. */
export interface Target {
  index: number
  url: string
}

export interface Answer {
  /** 0: no answer (refused, reset, timed out). */
  status: number
  /** The problem `code`, or for /auth/session whether it said authenticated. */
  code: string | undefined
  authenticated: boolean | undefined
}

export interface Credentials {
  email: string
  password: string
}

/** Every call's bound: nothing in the run waits forever. */
const CALL_TIMEOUT_MS = 30_000

/** The browsers' connections (one pool per instance, every call bounded); close it at the end of a run. */
export function browserNetwork (): Agent {
  return new Agent({ headersTimeout: CALL_TIMEOUT_MS, bodyTimeout: CALL_TIMEOUT_MS, connectTimeout: 5000, keepAliveTimeout: 2000 })
}

/**
 * A browser as far as sessions go: one cookie jar holding at most one session cookie, sent
 * with every call and changed by every answer's Set-Cookie in the order answers arrive (a
 * clearing Set-Cookie erases whatever the jar holds then, as a real browser's does).
 *
 * It knows which sessions its user ended on purpose (log-out, or log-out everywhere from
 * another browser): a 401 for any other session, or a clearing Set-Cookie that erases a live
 * session the request did not carry, is a lost session.
 */
export class VirtualBrowser {
  readonly name: string
  readonly credentials: Credentials
  readonly #ledger: Ledger
  readonly #network: Dispatcher
  #jar: string | undefined
  #sequence = 0
  /** Whether the user believes they are logged in. */
  loggedIn = false
  /** Every session cookie the BFF ever gave this browser. */
  readonly issued = new Set<string>()
  /** Sessions the user ended on purpose. */
  readonly ended = new Set<string>()

  constructor (name: string, credentials: Credentials, ledger: Ledger, network: Dispatcher) {
    this.name = name
    this.credentials = credentials
    this.#ledger = ledger
    this.#network = network
  }

  get cookie (): string | undefined {
    return this.#jar
  }

  /** Logs in (with whatever cookie the jar holds, as a browser would); true when it worked. */
  async login (target: Target): Promise<boolean> {
    const answer = await this.send(target, 'POST', '/auth/login', { json: this.credentials })
    if (answer.status !== 200) return false
    this.#ledger.login()
    this.loggedIn = this.#jar !== undefined
    return this.loggedIn
  }

  /** Logs out this session (`all`: every session of the user; the caller marks the other browsers'). */
  async logout (target: Target, scope: 'session' | 'all' = 'session'): Promise<Answer> {
    this.endOnPurpose()
    return await this.send(target, 'POST', scope === 'all' ? '/auth/logout?scope=all' : '/auth/logout')
  }

  /** The user ended the session in the jar (here or from another browser): a 401 for it is expected. */
  endOnPurpose (): void {
    if (this.#jar !== undefined) this.ended.add(this.#jar)
    this.loggedIn = false
  }

  /**
   * One call with the jar's cookie; Set-Cookie applied; the answer counted in the ledger, and
   * judged: a 401, or /auth/session saying "not authenticated", for a session the user did not
   * end is a lost session (the browser then counts as logged out).
   */
  async send (target: Target, method: Dispatcher.HttpMethod, path: string, options: { json?: unknown } = {}): Promise<Answer> {
    const carried = this.#jar
    const wasLoggedIn = this.loggedIn
    const headers: Record<string, string> = { 'x-request-id': `c${target.index}-${this.name}-${++this.#sequence}` }
    if (carried !== undefined) headers.cookie = `${COOKIE_NAME}=${carried}`
    if (options.json !== undefined) headers['content-type'] = 'application/json'
    let answer: Answer
    try {
      const response = await request(target.url + path, {
        method,
        headers,
        dispatcher: this.#network,
        ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) })
      })
      const text = await response.body.text()
      this.#applySetCookie(response.headers['set-cookie'], carried, target)
      const body = parseJson(text)
      answer = {
        status: response.statusCode,
        code: typeof body?.code === 'string' ? body.code : undefined,
        authenticated: typeof body?.authenticated === 'boolean' ? body.authenticated : undefined
      }
    } catch {
      answer = { status: 0, code: undefined, authenticated: undefined }
    }
    this.#ledger.answer(answer.status, answer.code)
    const refused = answer.status === 401 || (answer.status === 200 && answer.authenticated === false)
    if (refused && wasLoggedIn && carried !== undefined && !this.ended.has(carried) && path !== '/auth/login') {
      this.#ledger.lose({ cause: 'ended_by_bff', browser: this.name, code: answer.code, instance: target.index })
      this.ended.add(carried)
      if (this.#jar === carried || this.#jar === undefined) this.loggedIn = false
    }
    return answer
  }

  /** Whether `cookie` still opens a session (asked without touching the jar). */
  async usable (target: Target, cookie: string): Promise<boolean | undefined> {
    try {
      const response = await request(`${target.url}/auth/session`, { headers: { cookie: `${COOKIE_NAME}=${cookie}` }, dispatcher: this.#network })
      const body = parseJson(await response.body.text())
      if (response.statusCode !== 200) return undefined
      return body?.authenticated === true
    } catch {
      return undefined
    }
  }

  #applySetCookie (header: string | string[] | undefined, carried: string | undefined, target: Target): void {
    const lines = header === undefined ? [] : Array.isArray(header) ? header : [header]
    for (const line of lines) {
      const [pair = '', ...attributes] = line.split(';')
      const separator = pair.indexOf('=')
      if (pair.slice(0, separator).trim() !== COOKIE_NAME) continue
      const value = pair.slice(separator + 1).trim()
      if (value === '' || expired(attributes)) {
        const erased = this.#jar
        this.#jar = undefined
        // Erasing the cookie of a newer, live session is how a stale answer logs a browser out.
        if (erased !== undefined && erased !== carried && !this.ended.has(erased)) {
          this.#ledger.lose({ cause: 'cookie_wiped', browser: this.name, code: undefined, instance: target.index })
          this.ended.add(erased)
          this.loggedIn = false
        }
      } else {
        this.#jar = value
        this.issued.add(value)
      }
    }
  }
}

function expired (attributes: string[]): boolean {
  for (const attribute of attributes) {
    const [name = '', value = ''] = attribute.split('=').map((part) => part.trim())
    if (name.toLowerCase() === 'max-age' && Number(value) <= 0) return true
    if (name.toLowerCase() === 'expires' && Date.parse(value) <= Date.now()) return true
  }
  return false
}

function parseJson (text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}
