/** A path segment that is a word of the API (`chat-threads`, `refresh-access-token`, `me`), not an id. */
const WORD = /^[a-z]+(?:[-_.][a-z]+)*$/
/** An API version segment (`v2`). */
const VERSION = /^v\d{1,3}$/
const LONGEST_WORD = 40

/**
 * An upstream path as spans show it: the query dropped, and every segment that is not a plain
 * lowercase word or a version replaced by `{id}` (numbers, UUIDs, encoded or mixed-case
 * segments), so that `/api/v2/chat-threads/42/agent-responses?include_steps=true` reads
 * `/api/v2/chat-threads/{id}/agent-responses`. The named routes' paths come out as their
 * templates; on the passthrough an id that is itself a lowercase word would stay (Ejento's ids
 * are numbers and UUIDs).
 */
export function pathTemplate (path: string): string {
  const end = path.search(/[?#]/)
  const bare = end === -1 ? path : path.slice(0, end)
  return bare.split('/').map((segment) => segment === '' || (segment.length <= LONGEST_WORD && (WORD.test(segment) || VERSION.test(segment))) ? segment : '{id}').join('/')
}
