import type { FastifyBaseLogger } from 'fastify'

/** One line at most this often while requests keep answering 503 store_unavailable. */
const REPEAT_MS = 10_000

/**
 * How a 503 `store_unavailable` is logged. It is an expected condition (Redis away, a
 * fail-over), not a bug: no stack, and not one line per request (a fail-over under load made
 * hundreds). The first of a run is a warning naming the cause in a few words; while the run
 * lasts, one line per REPEAT_MS says how many more there were. The outage itself, and its end,
 * are the Redis client's own lines (src/redis.ts).
 */
export function storeUnavailableLog (repeatMs = REPEAT_MS): (log: FastifyBaseLogger, error: unknown) => void {
  let lastLineAt = 0
  let since = 0
  return (log, error) => {
    const now = Date.now()
    if (now - lastLineAt < repeatMs) {
      since++
      return
    }
    const first = lastLineAt === 0 || now - lastLineAt > 2 * repeatMs
    log.warn({ code: 'store_unavailable', cause: causeOf(error), ...(first ? {} : { answeredSinceLastLine: since }) },
      first ? 'answering 503 store_unavailable: the session store does not answer' : 'still answering 503 store_unavailable')
    lastLineAt = now
    since = 0
  }
}

/** The client's own words (e.g. "Command timed out"), one line, no stack. */
function causeOf (error: unknown): string | undefined {
  const cause = (error as { cause?: unknown } | undefined)?.cause ?? error
  const message = cause instanceof Error ? cause.message : undefined
  return message?.split('\n')[0]?.slice(0, 200)
}
