import { BffError, ClientError } from './errors.js'
import { hasDotSegment } from './paths.js'

/** `maxEventSize`'s default: 1 MiB of text per event, far above any answer an agent streams. */
export const DEFAULT_MAX_EVENT_SIZE = 1_048_576

export interface ClientOptions {
  /**
   * Where the BFF answers: '' (the default) is the page's own origin, as when the BFF serves
   * the page; otherwise an origin with an optional path prefix (`https://bff.example.com`,
   * `/bff`). Outside a browser (Node.js, tests) it must be absolute. No credentials, query or
   * fragment: `createClient` throws ClientError `invalid_base_url`.
   */
  baseUrl?: string
  /** The `fetch` to call; the global one by default. */
  fetch?: typeof globalThis.fetch
  /** Headers sent with every call (an `x-request-id`...). Never a credential: the session cookie is the only one. */
  headers?: Record<string, string>
  /**
   * The longest event `ask()` reads from a stream, in characters of its data (default 1 MiB): a longer one
   * stops the stream with ClientError `stream_event_too_large` rather than filling the tab's memory.
   */
  maxEventSize?: number
}

/** What every call takes besides its own arguments. */
export interface CallOptions {
  /** Aborts the call (and, for `ask`, the stream and the BFF's call upstream). */
  signal?: AbortSignal
}

export interface SendOptions extends CallOptions {
  body?: unknown
  query?: Record<string, string | number | boolean | undefined>
  accept?: string
}

/**
 * The one place the client calls `fetch`: the session cookie goes along (`credentials:
 * 'include'`, also when the BFF is on another origin that ALLOWED_ORIGINS lists), bodies are
 * JSON, and an answer that is not 2xx becomes a `BffError`.
 */
export class Transport {
  readonly baseUrl: string
  readonly maxEventSize: number
  readonly #fetch: typeof globalThis.fetch
  readonly #headers: Record<string, string>

  constructor (options: ClientOptions = {}) {
    this.baseUrl = checkedBaseUrl(options.baseUrl ?? '').replace(/\/+$/, '')
    this.maxEventSize = options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE
    if (!Number.isSafeInteger(this.maxEventSize) || this.maxEventSize < 1) throw new ClientError('invalid_option', 'maxEventSize must be a positive integer (characters).')
    // Called through a function: a browser's fetch refuses to run with another `this`.
    const fetchFunction = options.fetch ?? globalThis.fetch
    this.#fetch = async (input, init) => await fetchFunction(input, init)
    this.#headers = { ...options.headers }
  }

  /** The address of a BFF path, with its query (undefined values left out). */
  url (path: string, query: SendOptions['query'] = {}): string {
    const search = new URLSearchParams()
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.append(name, String(value))
    const text = search.toString()
    // A path that has a query already (`proxy('ejento', '/api/x?a=1', {query})`) gets the rest after `&`.
    return `${this.baseUrl}${path}${text === '' ? '' : `${path.includes('?') ? '&' : '?'}${text}`}`
  }

  /** Sends the call; answers the 2xx response, unread. */
  async send (method: string, path: string, options: SendOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.#headers, accept: options.accept ?? 'application/json' }
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const url = this.url(path, options.query)
    const response = await this.#fetch(url, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      credentials: 'include',
      ...(options.signal === undefined ? {} : { signal: options.signal })
    })
    if (redirectedElsewhere(response, url)) {
      await response.body?.cancel().catch(() => {})
      throw new ClientError('unexpected_redirect', `${method} ${path.split('?')[0] ?? ''} was redirected to another origin: its answer is not the BFF's (is baseUrl the BFF's address?).`)
    }
    if (!response.ok) throw await errorOf(response)
    return response
  }

  /** Sends the call and answers its JSON (undefined for an answer without a body, such as 204). */
  async json<T> (method: string, path: string, options: SendOptions = {}): Promise<T> {
    const response = await this.send(method, path, options)
    const text = await response.text()
    return (text === '' ? undefined : parseAnswer(text, method, path, response)) as T
  }
}

/**
 * A 2xx answer's JSON; ClientError `invalid_answer` when it is not JSON, as when `baseUrl` reaches a
 * web server that answers its index.html for every path, rather than the BFF.
 */
export function parseAnswer (text: string, method: string, path: string, response: Response): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new ClientError('invalid_answer', `${method} ${path.split('?')[0] ?? ''} answered ${response.status} with a body that is not JSON (content type ${response.headers.get('content-type') ?? 'none'}): is baseUrl the BFF's address?`, { cause: error })
  }
}

/**
 * True when fetch followed a redirect to another origin than the call's: a proxy's or a server's
 * redirect elsewhere (the BFF's own, through the passthrough, stay on its origin). A fetch that
 * does not say where it ended (`url` empty) is taken at its word.
 */
function redirectedElsewhere (response: Response, requested: string): boolean {
  if (!response.redirected || response.url === '') return false
  try {
    return new URL(response.url).origin !== new URL(requested, (globalThis as { location?: { href: string } }).location?.href).origin
  } catch {
    return true
  }
}

/** The most of an error answer's body the client reads (a problem is a few hundred characters): an endless one is cut here. */
export const MAX_ERROR_BODY_SIZE = 65_536

/**
 * `baseUrl` as given, when it is '' (the page's own origin), a path of the page's own origin
 * (`/bff`), or an http(s) origin with an optional path (`https://bff.example.com/bff`); no
 * credentials, query, fragment, dot segment, backslash, space or control character (which a
 * browser would drop or resolve, sending calls elsewhere than the address reads). Else
 * ClientError `invalid_base_url`, which never repeats the value (it may hold a password).
 */
function checkedBaseUrl (baseUrl: string): string {
  const refuse = (why: string): never => { throw new ClientError('invalid_base_url', `baseUrl must be an http(s) URL or a path of the page's own origin (such as "/bff"): ${why}.`) }
  if (typeof baseUrl !== 'string') refuse('it is not a string')
  if (baseUrl === '') return baseUrl
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f\\]/.test(baseUrl)) refuse('it has a space, a control character or a backslash')
  if (/[?#]/.test(baseUrl)) refuse('it has a query or a fragment')
  if (baseUrl.startsWith('/')) {
    // `//host` is another origin, not a path.
    if (baseUrl.startsWith('//')) refuse('"//" starts another origin, not a path')
    if (hasDotSegment(baseUrl)) refuse('it has a dot segment')
    return baseUrl
  }
  let url: URL
  try {
    url = new URL(baseUrl)
  } catch {
    return refuse('it is neither an absolute URL nor a path starting with "/"')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') refuse('its scheme is not http or https')
  if (url.username !== '' || url.password !== '' || /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(baseUrl)) refuse('it has credentials (user:password@)')
  if (!/^https?:\/\/[^/]/i.test(baseUrl) || hasDotSegment(baseUrl.replace(/^https?:\/\/[^/]*/i, ''))) refuse('it has a dot segment or no "//" before its host')
  return baseUrl
}

/**
 * The error a non-2xx answer stands for. Its body is read up to MAX_ERROR_BODY_SIZE characters
 * and the rest cancelled (an unread body holds the connection; an endless one would hang the
 * call and fill the memory).
 */
export async function errorOf (response: Response): Promise<BffError> {
  const text = await readAtMost(response, MAX_ERROR_BODY_SIZE)
  let body: unknown = text === '' ? undefined : text
  if (text !== '' && /json/i.test(response.headers.get('content-type') ?? '')) {
    try {
      body = JSON.parse(text)
    } catch {}
  }
  const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN)
  const requestId = response.headers.get('x-request-id')
  return new BffError(response.status, body, {
    statusText: response.statusText,
    ...(Number.isFinite(retryAfter) ? { retryAfter } : {}),
    ...(requestId === null ? {} : { requestId })
  })
}

/** The first `limit` characters of the body (what arrived of them if it broke off); the rest is not read. */
async function readAtMost (response: Response, limit: number): Promise<string> {
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  try {
    while (text.length < limit) {
      const { value, done } = await reader.read()
      if (done) return text + decoder.decode()
      text += decoder.decode(value, { stream: true })
    }
  } catch {
    // The connection broke: the error is still the answer's status, with what arrived.
  } finally {
    await reader.cancel().catch(() => {})
  }
  return text.slice(0, limit)
}
