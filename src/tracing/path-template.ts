import { PATH_PROFILES } from '../upstream/paths.js'

/** A path segment that is a word of the API (`chat-threads`, `refresh-access-token`, `me`), not an id. */
const WORD = /^[a-z]+(?:[-_.][a-z]+)*$/
/** An API version segment (`v2`). */
const VERSION = /^v\d{1,3}$/

/**
 * The words of Ejento's paths as the path profiles name them (every call, ids left out). Only
 * these stay in a span: a word the profiles do not know may be an id, a name or a secret, and
 * would give every caller of the passthrough a span name of their own choosing (unbounded
 * names for the collector to index).
 */
const KNOWN_WORDS: ReadonlySet<string> = (() => {
  const words = new Set<string>()
  const collect = (value: unknown): void => {
    if (typeof value === 'string') {
      for (const segment of value.split(/[/?&=]/)) if (WORD.test(segment)) words.add(segment)
    } else if (typeof value === 'function') {
      collect((value as (id: string) => unknown)('0'))
    } else if (typeof value === 'object' && value !== null && !(value instanceof RegExp)) {
      for (const item of Object.values(value)) collect(item)
    }
  }
  for (const profile of Object.values(PATH_PROFILES)) collect({ auth: profile.auth, api: profile.api, whoAmI: profile.whoAmI?.path })
  return words
})()

/**
 * An upstream path as spans show it: the query dropped, and every segment that is not a word
 * of the path profiles or a version replaced by `{id}` (numbers, UUIDs, encoded or mixed-case
 * segments, words Ejento's known calls do not use), so that
 * `/api/v2/chat-threads/42/agent-responses?include_steps=true` reads
 * `/api/v2/chat-threads/{id}/agent-responses`. The named routes' paths come out as their
 * templates; a passthrough call to a path the profiles do not name is shown by its known words.
 */
export function pathTemplate (path: string): string {
  const end = path.search(/[?#]/)
  const bare = end === -1 ? path : path.slice(0, end)
  return bare.split('/').map((segment) => segment === '' || KNOWN_WORDS.has(segment) || VERSION.test(segment) ? segment : '{id}').join('/')
}
