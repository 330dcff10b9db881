import type { IncomingHttpHeaders } from 'node:http'

/**
 * Whether a request's `traceparent` may be continued (become its route span's parent), or only
 * linked. Continued when the request comes from one of the operator's own frontends: it has an
 * Origin that is in ALLOWED_ORIGINS, PUBLIC_URL's origin or this server's own (the page it
 * served), or no Origin at all (a same-origin GET, which browsers send without one, or a
 * non-browser caller such as the operator's gateway or services). A page of any other site can
 * only send a traceparent through CORS, which always carries its Origin: such a trace, and an
 * `Origin: null` (sandboxed frames, files), is started anew with a link to the caller's.
 * A non-browser client can claim any Origin; what protects a sampling budget against it is
 * the sampler (OTEL_TRACES_SAMPLER=traceidratio ignores the caller's sampled flag).
 */
export function traceparentTrusted (headers: IncomingHttpHeaders, trustedOrigins: ReadonlySet<string>): boolean {
  const origin = headers.origin
  if (origin === undefined) return true
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  if (url.origin === 'null') return false
  return trustedOrigins.has(url.origin) || url.host === headers.host
}
