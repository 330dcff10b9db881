/** Why a session counted as lost. */
export type LossCause =
  /** A call answered 401 (or /auth/session said "not authenticated") although the browser never logged that session out. */
  | 'ended_by_bff'
  /** An answer's cookie-clearing Set-Cookie erased a live cookie other than the one its request carried. */
  | 'cookie_wiped'

export interface Loss {
  phase: string
  cause: LossCause
  browser: string
  /** The BFF's problem code, when the answer had one. */
  code: string | undefined
  instance: number
  atMs: number
}

/** What one phase saw, from the browsers' side and the simulator's. */
export interface PhaseTally {
  name: string
  startedAt: number
  endedAt: number
  requests: number
  ok: number
  /** 502, 503 and 504 answers and unreachable instances (status 0), by status and code: retried, never losses. */
  transient: Record<string, number>
  /** Anything else that is neither a success nor a loss (a 500, an unexpected 4xx): reported. */
  unexpected: Record<string, number>
  logins: number
  lost: number
  lostBy: Partial<Record<LossCause, number>>
  /** Sessions a browser was issued and ended (log-out, log-out everywhere) that still worked afterwards. */
  orphans: number
  /** Refresh calls the fault struck: at the upstream when Redis froze or their instance was killed. */
  refreshesUnderFault: number
  /** Refresh calls the simulator received / refused during the phase. */
  refreshes: number
  refusedRefreshes: number
  notes: string[]
}

/**
 * The chaos run's books: every answer a virtual browser gets is counted in the phase that is
 * running when it arrives, so a loss that surfaces during a phase's recovery is that phase's.
 */
export class Ledger {
  readonly phases: PhaseTally[] = []
  readonly losses: Loss[] = []

  get current (): PhaseTally {
    const phase = this.phases.at(-1)
    if (phase === undefined) throw new Error('no phase started')
    return phase
  }

  begin (name: string): PhaseTally {
    const phase: PhaseTally = {
      name,
      startedAt: Date.now(),
      endedAt: 0,
      requests: 0,
      ok: 0,
      transient: {},
      unexpected: {},
      logins: 0,
      lost: 0,
      lostBy: {},
      orphans: 0,
      refreshesUnderFault: 0,
      refreshes: 0,
      refusedRefreshes: 0,
      notes: []
    }
    this.phases.push(phase)
    return phase
  }

  end (counters: { refreshes: number, refusedRefreshes: number }): PhaseTally {
    const phase = this.current
    phase.endedAt = Date.now()
    phase.refreshes = counters.refreshes
    phase.refusedRefreshes = counters.refusedRefreshes
    return phase
  }

  /** Counts an answer; retried and unexpected ones by status and problem code (`503 refresh_pending`). */
  answer (status: number, code: string | undefined): void {
    const phase = this.current
    phase.requests++
    const key = code === undefined ? String(status) : `${status} ${code}`
    if (status >= 200 && status < 300) phase.ok++
    else if (status === 0 || status === 502 || status === 503 || status === 504) bump(phase.transient, key)
    else if (status !== 401) bump(phase.unexpected, key)
  }

  login (): void {
    this.current.logins++
  }

  lose (loss: Omit<Loss, 'phase' | 'atMs'>): void {
    const phase = this.current
    phase.lost++
    phase.lostBy[loss.cause] = (phase.lostBy[loss.cause] ?? 0) + 1
    this.losses.push({ ...loss, phase: phase.name, atMs: Date.now() })
  }

  underFault (refreshes: number): void {
    this.current.refreshesUnderFault += refreshes
  }

  orphan (count = 1): void {
    this.current.orphans += count
  }

  note (text: string): void {
    this.current.notes.push(text)
  }
}

function bump (counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1
}
