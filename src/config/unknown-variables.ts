/**
 * Variables that look like ours but are not: `SESION_IDLE_TIMEOUT` was silently ignored and
 * the default idle timeout applied. Only names with one of our prefixes are looked at (the
 * environment holds much else), plus names a letter or two away from a variable of ours.
 */

/** The first words of our variables (and likely misspellings of the first). */
export const OUR_PREFIXES = [
  'SESSION_', 'SESION_', 'SESSON_', 'EJENTO_', 'REDIS_', 'COOKIE_', 'UPSTREAM_', 'REQUEST_', 'REFRESH_',
  'TOKEN_', 'AUTH_RATE_', 'PROXY_', 'METRICS_', 'SHUTDOWN_', 'ALLOWED_', 'TRUST_', 'STATIC_'
] as const

/** A variable that is not ours, and the variable of ours its name is closest to. */
export interface UnknownVariable {
  name: string
  closest: string
}

/** The set variables that are not in `known` but look like ours, each with the known name closest to it. */
export function unknownVariables (env: Record<string, string | undefined>, known: ReadonlySet<string>): UnknownVariable[] {
  const names = [...known]
  if (names.length === 0) return []
  const found: UnknownVariable[] = []
  for (const name of Object.keys(env).sort()) {
    if (known.has(name) || env[name] === undefined) continue
    const ranked = names.map((candidate) => ({ candidate, distance: editDistance(name, candidate) }))
      .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    const best = ranked[0] as { candidate: string, distance: number }
    const prefixed = OUR_PREFIXES.some((prefix) => name.startsWith(prefix))
    // A typo in a name without our prefixes (LOG_LEVLE, PUBLIC_URI): long enough not to be a neighbour's HOME or PWD.
    const nearMiss = name.length >= 8 && best.distance <= 2
    if (prefixed || nearMiss) found.push({ name, closest: best.candidate })
  }
  return found
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] as number
}
