import { PATH_PROFILES } from '../../src/upstream/paths.js'

/**
 * Independent models of how servers read the request target they receive, written from
 * their documented behaviour and not from the BFF's check, so that a test can ask whether
 * any of them would route a forwarded target to a token-issuing or sign-up endpoint.
 */

/** Every profile's token-issuing paths, and its sign-up path (the trailing slash Starlette redirects included). */
const TOKEN_OR_SIGNUP: readonly RegExp[] = Object.values(PATH_PROFILES).flatMap((profile) => [
  ...profile.auth.tokenIssuing,
  new RegExp(`^${profile.auth.signup.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:/|$)`, 'i')
])

/** Python's `urllib.parse.unquote`: each run of `%HH` decoded as UTF-8, invalid bytes as U+FFFD, a bad escape left alone. */
export function unquote (text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'))
}

function decodedTimes (text: string, times: number): string {
  let decoded = text
  for (let round = 0; round < times; round++) decoded = unquote(decoded)
  return decoded
}

/** The path part as a server that stops at the first `?` or `#` sees it. */
function pathPart (target: string): string {
  return target.split(/[?#]/)[0] as string
}

function dropParameters (path: string): string {
  return path.split('/').map((segment) => segment.split(';')[0]).join('/')
}

/** Tomcat and Jetty drop `;parameters`; IIS ignores trailing dots and spaces and folds compatibility characters and case. */
function lenient (path: string): string {
  return path.normalize('NFKC').toUpperCase().split('/').map((segment) => segment.split(';')[0]?.replace(/[.\s]+$/, '') ?? '').join('/')
}

/** The WHATWG URL parser, as node:http servers (our simulator) and many gateways use it: dot segments resolved, `\` a slash. */
function whatwgPath (target: string): string {
  try {
    return new URL(target, 'http://upstream.invalid').pathname
  } catch {
    return ''
  }
}

export const SERVER_READINGS: Record<string, (target: string) => string> = {
  'node:http + WHATWG URL (the simulator)': whatwgPath,
  'WHATWG URL, path decoded once': (target) => unquote(whatwgPath(target)),
  'uvicorn + Starlette (decoded once)': (target) => unquote(pathPart(target)),
  'a gateway that decodes, then Starlette (twice)': (target) => decodedTimes(pathPart(target), 2),
  'decoded three times': (target) => decodedTimes(pathPart(target), 3),
  'decoded, then parsed again (a decoded ? or # ends the path)': (target) => pathPart(decodedTimes(pathPart(target), 3)),
  'decoded, dots resolved after decoding': (target) => whatwgPath(decodedTimes(pathPart(target), 3).replace(/[?#]/g, '_')),
  'Tomcat (decoded once, ;parameters dropped, then dot segments resolved)': (target) => whatwgPath(dropParameters(unquote(pathPart(target))).replace(/[?#]/g, '_')),
  'lenient (;parameters, trailing dots, NFKC, case)': (target) => lenient(pathPart(decodedTimes(pathPart(target), 3))),
  'lenient after decoding once': (target) => lenient(unquote(pathPart(target)))
}

/** The names of the server models that read `target` as a token-issuing or sign-up path (none: an empty list). */
export function tokenPathReaders (target: string): string[] {
  return Object.entries(SERVER_READINGS)
    .filter(([, read]) => { const path = read(target); return TOKEN_OR_SIGNUP.some((pattern) => pattern.test(path)) })
    .map(([name]) => name)
}
