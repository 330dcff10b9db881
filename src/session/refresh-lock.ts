/**
 * Serialises token refreshes of one session across BFF instances, and lets an instance tell
 * whether another one is (or was) in the middle of refreshing a token. Within one process the
 * vault already shares one refresh per session; this extends that to every instance that shares
 * the store. The in-process store needs none of it.
 */
export interface RefreshLock {
  /** Waits until this caller holds the lock for `key` (or gives up after a while); resolves to its release. */
  acquire (key: string): Promise<() => Promise<void>>
  /**
   * Records, before the refresh call goes upstream, that this instance is trading the token
   * `fingerprint` of session `key`. The record stays until `conclude`, also across a store outage,
   * so that no other instance refreshes with a token this one may already have spent.
   */
  announce (key: string, fingerprint: string): Promise<void>
  /** This instance's refresh of `key` is settled: its tokens are stored, or nothing was spent. */
  conclude (key: string): Promise<void>
  /**
   * Whether another instance announced a refresh of token `fingerprint` of session `key` and has
   * not concluded it: `alive` while that instance lives (or might: the store only just came
   * back), `dead` once it has been gone long enough, `none` without such a record.
   */
  announcedBy (key: string, fingerprint: string): Promise<AnnouncedRefresh>
  /** Stops any background work (heartbeats). */
  close (): Promise<void>
}

export type AnnouncedRefresh = 'none' | 'alive' | 'dead'

export const noRefreshLock: RefreshLock = {
  acquire: async () => async () => {},
  announce: async () => {},
  conclude: async () => {},
  announcedBy: async () => 'none',
  close: async () => {}
}
