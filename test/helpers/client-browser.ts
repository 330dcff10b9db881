import { createClient } from '../../client/src/index.js'
import type { AskEvent, BffClient, ClientOptions } from '../../client/src/index.js'

/**
 * What the client tests share: a browser's cookie jar for Node.js's fetch, a client over it (a
 * browser tab), and ways to read an ask and a failure.
 */

/**
 * A browser's cookie jar for Node.js's fetch: keeps what Set-Cookie sets (name, value, Path),
 * forgets what it expires, sends back what the request's path is under. The client itself
 * never sees a cookie, as in a browser (the session cookie is HttpOnly).
 */
export function cookieJar (): { fetch: typeof fetch, names: () => string[] } {
  const cookies = new Map<string, { value: string, path: string }>()
  const jarFetch: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    const headers = new Headers(init?.headers)
    const sent = [...cookies].filter(([, cookie]) => url.pathname.startsWith(cookie.path)).map(([name, cookie]) => `${name}=${cookie.value}`)
    if (sent.length > 0) headers.set('cookie', sent.join('; '))
    const response = await fetch(url, { ...init, headers })
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim())
      const name = pair.slice(0, pair.indexOf('='))
      const value = pair.slice(pair.indexOf('=') + 1)
      const path = attributes.find((attribute) => /^path=/i.test(attribute))?.slice(5) ?? '/'
      const expired = value === '' || attributes.some((attribute) => /^max-age=0$/i.test(attribute) || (/^expires=/i.test(attribute) && Date.parse(attribute.slice(8)) <= Date.now()))
      if (expired) cookies.delete(name)
      else cookies.set(name, { value, path })
    }
    return response
  }
  return { fetch: jarFetch, names: () => [...cookies.keys()] }
}

/** What a browser tab has: the client of the BFF at `server.base`, over its own cookie jar (and `options`). */
export function browser (server: { base: string }, options: ClientOptions = {}): { client: BffClient, jar: ReturnType<typeof cookieJar> } {
  const jar = cookieJar()
  return { client: createClient({ baseUrl: server.base, fetch: jar.fetch, ...options }), jar }
}

/** Reads every event of an ask. */
export async function collect (events: AsyncIterable<AskEvent>): Promise<AskEvent[]> {
  const all: AskEvent[] = []
  for await (const event of events) all.push(event)
  return all
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection (promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(() => { throw new Error('expected the call to fail') }, (error: unknown) => error)
}
