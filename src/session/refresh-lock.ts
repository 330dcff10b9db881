/**
 * Serialises token refreshes of one session across BFF instances. Within one process the
 * vault already shares one refresh per session; this lock extends that to every instance
 * that shares the store. The in-process store needs no lock at all.
 */
export interface RefreshLock {
  /** Waits until this caller holds the lock for `key` (or gives up after a while); resolves to its release. */
  acquire (key: string): Promise<() => Promise<void>>
}

export const noRefreshLock: RefreshLock = {
  acquire: async () => async () => {}
}
