import { afterEach, describe, expect, it } from 'vitest'
import { SessionCipher } from '../src/session/cipher.js'
import { MemorySessionStore } from '../src/session/memory-store.js'
import type { SessionRecord } from '../src/session/record.js'
import { SessionRepository } from '../src/session/repository.js'
import type { OwnedSession, SessionStore, StoredSession } from '../src/session/store.js'

const SECRET_A = 'secret-a-0123456789-0123456789-0123456789'
const SECRET_B = 'secret-b-9876543210-9876543210-9876543210'
const MINUTE = 60_000

/** A clock the test moves by hand. */
function fakeClock (start = 1_700_000_000_000): { now: () => number, advance: (ms: number) => void, set: (at: number) => void } {
  let current = start
  return { now: () => current, advance: (ms) => { current += ms }, set: (at) => { current = at } }
}

const stores: MemorySessionStore[] = []
afterEach(async () => {
  while (stores.length > 0) await stores.pop()?.close()
})

function memoryStore (options: { maxCount: number, now?: () => number }): MemorySessionStore {
  const store = new MemorySessionStore(options)
  stores.push(store)
  return store
}

/** A store that records everything it is handed, so a test can inspect what would be at rest. */
class RecordingStore implements SessionStore {
  readonly kind = 'recording'
  readonly inner: MemorySessionStore
  readonly written: Array<{ op: string, args: unknown[] }> = []
  touches = 0

  constructor (inner: MemorySessionStore) {
    this.inner = inner
  }

  async get (id: string): Promise<StoredSession | null> { return await this.inner.get(id) }
  async create (id: string, owner: string, data: string, ttlMs: number): Promise<number> {
    this.written.push({ op: 'create', args: [id, owner, data, ttlMs] })
    return await this.inner.create(id, owner, data, ttlMs)
  }

  async replace (previousId: string, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<{ created: number } | { successor: string }> {
    this.written.push({ op: 'replace', args: [previousId, id, owner, data, ttlMs, successorTtlMs] })
    return await this.inner.replace(previousId, id, owner, data, ttlMs, successorTtlMs)
  }

  async renew (previousId: string, expectedVersion: number, id: string, owner: string, data: string, ttlMs: number, successorTtlMs: number): Promise<number | null> {
    this.written.push({ op: 'renew', args: [previousId, expectedVersion, id, owner, data, ttlMs, successorTtlMs] })
    return await this.inner.renew(previousId, expectedVersion, id, owner, data, ttlMs, successorTtlMs)
  }

  async successorOf (id: string): Promise<string | null> { return await this.inner.successorOf(id) }

  async update (id: string, expectedVersion: number, data: string, ttlMs: number): Promise<number | null> {
    this.written.push({ op: 'update', args: [id, expectedVersion, data, ttlMs] })
    return await this.inner.update(id, expectedVersion, data, ttlMs)
  }

  async touch (id: string, ttlMs: number): Promise<boolean> {
    this.touches += 1
    return await this.inner.touch(id, ttlMs)
  }

  async destroy (id: string): Promise<void> { await this.inner.destroy(id) }
  async destroyOwner (owner: string, exceptId?: string): Promise<number> { return await this.inner.destroyOwner(owner, exceptId) }
  async listOwner (owner: string): Promise<OwnedSession[]> { return await this.inner.listOwner(owner) }
  async putTransient (key: string, data: string, ttlMs: number): Promise<void> { await this.inner.putTransient(key, data, ttlMs) }
  async getTransient (key: string): Promise<string | null> { return await this.inner.getTransient(key) }
  async takeTransient (key: string): Promise<string | null> { return await this.inner.takeTransient(key) }
  async deleteTransient (key: string): Promise<void> { await this.inner.deleteTransient(key) }
  async ping (): Promise<void> { await this.inner.ping() }
  async close (): Promise<void> { await this.inner.close() }
}

function sampleRecord (createdAt: number, user: SessionRecord['user'] = { id: 'user-1', email: 'demo@example.com' }): SessionRecord {
  return {
    user,
    tokens: {
      authToken: 'eyJhbGciOiJIUzI1NiJ9.auth-token-claims-part-1234567890.auth-token-signature-abcdef',
      authExpiresAt: createdAt + 2 * 86_400_000,
      ejentoToken: 'eyJhbGciOiJIUzI1NiJ9.ejento-token-claims-part-0987654321.ejento-token-signature-uvwxyz',
      ejentoExpiresAt: createdAt + 2 * 86_400_000,
      obtainedAt: createdAt
    },
    createdAt
  }
}

describe('MemorySessionStore', () => {
  it('creates a session at version 1 and gets it back with its expiry', async () => {
    const clock = fakeClock()
    const store = memoryStore({ maxCount: 10, now: clock.now })
    expect(await store.get('s1')).toBeNull()
    expect(await store.create('s1', 'owner-1', 'blob-1', 5_000)).toBe(1)
    expect(await store.get('s1')).toEqual({ data: 'blob-1', version: 1, expiresAt: clock.now() + 5_000 })
    expect(store.size).toBe(1)
    // Creating again replaces the session and starts over at version 1.
    await store.update('s1', 1, 'blob-2', 5_000)
    expect(await store.create('s1', 'owner-1', 'blob-3', 5_000)).toBe(1)
    expect(await store.get('s1')).toMatchObject({ data: 'blob-3', version: 1 })
    expect(store.size).toBe(1)
  })

  it('forgets a session once its TTL has passed', async () => {
    const clock = fakeClock()
    const store = memoryStore({ maxCount: 10, now: clock.now })
    await store.create('s1', 'owner-1', 'blob', 1_000)
    clock.advance(999)
    expect(await store.get('s1')).not.toBeNull()
    clock.advance(1)
    expect(await store.get('s1')).toBeNull()
    expect(await store.touch('s1', 1_000)).toBe(false)
    expect(await store.update('s1', 1, 'other', 1_000)).toBeNull()
  })

  it('touch extends the TTL and answers false for a gone session', async () => {
    const clock = fakeClock()
    const store = memoryStore({ maxCount: 10, now: clock.now })
    await store.create('s1', 'owner-1', 'blob', 1_000)
    clock.advance(800)
    expect(await store.touch('s1', 1_000)).toBe(true)
    clock.advance(800)
    expect(await store.get('s1')).toMatchObject({ data: 'blob', version: 1, expiresAt: clock.now() + 200 })
    expect(await store.touch('never-was', 1_000)).toBe(false)
    await store.destroy('s1')
    expect(await store.touch('s1', 1_000)).toBe(false)
    expect(await store.get('s1')).toBeNull()
  })

  it('at its maximum count evicts the least recently active session, where touch and update count as activity', async () => {
    const store = memoryStore({ maxCount: 3 })
    await store.create('a', 'o', 'A', 60_000)
    await store.create('b', 'o', 'B', 60_000)
    await store.create('c', 'o', 'C', 60_000)
    expect(await store.touch('a', 60_000)).toBe(true)
    await store.create('d', 'o', 'D', 60_000)
    expect(store.size).toBe(3)
    expect(await store.get('b')).toBeNull()
    for (const id of ['a', 'c', 'd']) expect(await store.get(id)).not.toBeNull()

    expect(await store.update('c', 1, 'C2', 60_000)).toBe(2)
    await store.create('e', 'o', 'E', 60_000)
    expect(await store.get('a')).toBeNull()
    for (const id of ['c', 'd', 'e']) expect(await store.get(id)).not.toBeNull()

    // Replacing an existing id is no new session: nothing else is evicted.
    await store.create('d', 'o', 'D2', 60_000)
    expect(store.size).toBe(3)
    for (const id of ['c', 'd', 'e']) expect(await store.get(id)).not.toBeNull()
  })

  it('update is compare-and-set on the version', async () => {
    const store = memoryStore({ maxCount: 10 })
    await store.create('s1', 'o', 'v1', 60_000)
    expect(await store.update('s1', 1, 'v2', 60_000)).toBe(2)
    // A writer that read version 1 lost the race.
    expect(await store.update('s1', 1, 'stale', 60_000)).toBeNull()
    expect(await store.update('s1', 3, 'future', 60_000)).toBeNull()
    expect(await store.get('s1')).toMatchObject({ data: 'v2', version: 2 })
    expect(await store.update('s1', 2, 'v3', 60_000)).toBe(3)
    expect(await store.get('s1')).toMatchObject({ data: 'v3', version: 3 })
    // A gone session is never revived by a late write.
    await store.destroy('s1')
    expect(await store.update('s1', 3, 'revived', 60_000)).toBeNull()
    expect(await store.get('s1')).toBeNull()
    expect(await store.update('never-was', 1, 'x', 60_000)).toBeNull()
  })

  it('destroyOwner ends every session of that owner and only those', async () => {
    const store = memoryStore({ maxCount: 10 })
    await store.create('a1', 'alice', 'x', 60_000)
    await store.create('b1', 'bob', 'x', 60_000)
    await store.create('a2', 'alice', 'x', 60_000)
    await store.create('a3', 'alice', 'x', 60_000)
    expect(await store.destroyOwner('alice')).toBe(3)
    for (const id of ['a1', 'a2', 'a3']) expect(await store.get(id)).toBeNull()
    expect(await store.get('b1')).not.toBeNull()
    expect(await store.destroyOwner('alice')).toBe(0)
    expect(await store.destroyOwner('nobody')).toBe(0)
    expect(store.size).toBe(1)
  })

  it('sweep drops expired sessions without anyone asking for them', async () => {
    const clock = fakeClock()
    const store = memoryStore({ maxCount: 10, now: clock.now })
    await store.create('old-1', 'o', 'x', 1_000)
    await store.create('old-2', 'o', 'x', 1_000)
    await store.create('young', 'o', 'x', 10_000)
    clock.advance(1_500)
    expect(store.size).toBe(3)
    store.sweep()
    expect(store.size).toBe(1)
    expect(await store.get('young')).not.toBeNull()
    clock.advance(10_000)
    store.sweep()
    expect(store.size).toBe(0)
  })

  it('regression: sweep also drops an expired session that sits behind a live one (expiry is not activity order)', async () => {
    const clock = fakeClock()
    const store = memoryStore({ maxCount: 10, now: clock.now })
    await store.create('idle-but-young', 'o', 'x', 10_000)
    // Touched later, but near its absolute lifetime: it expires first.
    await store.create('active-but-old', 'o', 'x', 1_000)
    clock.advance(1_500)
    store.sweep()
    expect(store.size).toBe(1)
    expect(await store.get('idle-but-young')).not.toBeNull()
  })

  it('close empties the store', async () => {
    const store = memoryStore({ maxCount: 10 })
    await store.create('s1', 'o', 'x', 60_000)
    await store.ping()
    await store.close()
    expect(store.size).toBe(0)
  })
})

describe('SessionCipher', () => {
  const plaintext = JSON.stringify({ t: ['auth-token-value-1234567890', 'ejento-token-value-0987654321'], u: { email: 'demo@example.com' } })

  it('decrypts what it encrypted', () => {
    const cipher = new SessionCipher([SECRET_A])
    const blob = cipher.encrypt(plaintext, 'session-1')
    expect(cipher.decrypt(blob, 'session-1')).toBe(plaintext)
    expect(new SessionCipher([SECRET_A]).decrypt(blob, 'session-1')).toBe(plaintext)
    expect(cipher.decrypt(cipher.encrypt('', 'session-1'), 'session-1')).toBe('')
  })

  it('never lets the plaintext show in the blob, and never encrypts twice the same way', () => {
    const cipher = new SessionCipher([SECRET_A])
    const blob = cipher.encrypt(plaintext, 'session-1')
    expect(blob).toMatch(/^[A-Za-z0-9_-]+$/)
    for (const secretPart of ['auth-token-value-1234567890', 'ejento-token-value-0987654321', 'demo@example.com']) {
      expect(blob).not.toContain(secretPart)
      expect(Buffer.from(blob, 'base64url').includes(Buffer.from(secretPart))).toBe(false)
      expect(blob).not.toContain(Buffer.from(secretPart).toString('base64url').slice(0, 16))
    }
    expect(cipher.encrypt(plaintext, 'session-1')).not.toBe(blob)
  })

  it('decrypts a blob only under the session id it was encrypted for', () => {
    const cipher = new SessionCipher([SECRET_A])
    const blob = cipher.encrypt(plaintext, 'session-1')
    expect(cipher.decrypt(blob, 'session-2')).toBeNull()
    expect(cipher.decrypt(blob, 'session-')).toBeNull()
    expect(cipher.decrypt(blob, '')).toBeNull()
  })

  it('answers null when any byte is changed, or the blob is cut or garbage', () => {
    const cipher = new SessionCipher([SECRET_A])
    const blob = cipher.encrypt(plaintext, 'session-1')
    const bytes = Buffer.from(blob, 'base64url')
    for (let index = 0; index < bytes.length; index += 1) {
      const tampered = Buffer.from(bytes)
      tampered[index] = (tampered[index] as number) ^ 0x01
      expect(cipher.decrypt(tampered.toString('base64url'), 'session-1'), `byte ${index}`).toBeNull()
    }
    expect(cipher.decrypt(bytes.subarray(0, bytes.length - 1).toString('base64url'), 'session-1')).toBeNull()
    expect(cipher.decrypt(bytes.subarray(0, 20).toString('base64url'), 'session-1')).toBeNull()
    expect(cipher.decrypt(Buffer.concat([bytes, Buffer.from([0])]).toString('base64url'), 'session-1')).toBeNull()
    for (const garbage of ['', 'x', 'not base64 at all!', plaintext, 'A'.repeat(200)]) {
      expect(cipher.decrypt(garbage, 'session-1')).toBeNull()
    }
  })

  it('rotates keys: the first secret encrypts, all decrypt, a removed secret no longer does', () => {
    const old = new SessionCipher([SECRET_A])
    const rotating = new SessionCipher([SECRET_B, SECRET_A])
    const rotated = new SessionCipher([SECRET_B])
    const oldBlob = old.encrypt(plaintext, 'session-1')

    expect(rotating.decrypt(oldBlob, 'session-1')).toBe(plaintext)
    expect(rotated.decrypt(oldBlob, 'session-1')).toBeNull()
    expect(rotating.isStale(oldBlob)).toBe(true)

    const newBlob = rotating.encrypt(plaintext, 'session-1')
    expect(rotating.isStale(newBlob)).toBe(false)
    expect(rotated.decrypt(newBlob, 'session-1')).toBe(plaintext)
    expect(old.decrypt(newBlob, 'session-1')).toBeNull()
  })

  it('refuses to work without a secret', () => {
    expect(() => new SessionCipher([])).toThrow()
  })
})

describe('SessionRepository', () => {
  function repositoryWith (lifetimes: { idleTimeoutMs: number, maxAgeMs: number }, secrets = [SECRET_A]): { repository: SessionRepository, store: RecordingStore, clock: ReturnType<typeof fakeClock> } {
    const clock = fakeClock()
    const store = new RecordingStore(memoryStore({ maxCount: 100, now: clock.now }))
    return { repository: new SessionRepository(store, new SessionCipher(secrets), lifetimes, clock.now), store, clock }
  }

  it('hands the store only encrypted data: no token in anything it keeps', async () => {
    const { repository, store, clock } = repositoryWith({ idleTimeoutMs: 30 * MINUTE, maxAgeMs: 12 * 60 * MINUTE })
    const record = sampleRecord(clock.now())
    await repository.create('session-1', record)
    const loaded = await repository.load('session-1')
    expect(loaded?.record).toEqual(record)
    await repository.update('session-1', loaded?.version ?? 0, { ...record, tokens: { ...record.tokens, authToken: `${record.tokens.authToken}-refreshed` } })

    const secrets = [record.tokens.authToken, record.tokens.ejentoToken, ...record.tokens.authToken.split('.').slice(1), ...record.tokens.ejentoToken.split('.').slice(1)]
    const dump = JSON.stringify([store.written, await store.get('session-1')])
    expect(store.written.map((write) => write.op)).toEqual(['create', 'update'])
    for (const secret of secrets) expect(dump).not.toContain(secret)
    // The owner key lets all of a user's sessions be ended; it is the user id, not a secret.
    expect(store.written[0]?.args[1]).toBe('user-1')
  })

  it('ends a session at its absolute lifetime however recently it was used', async () => {
    const { repository, clock } = repositoryWith({ idleTimeoutMs: 10 * MINUTE, maxAgeMs: 30 * MINUTE })
    const record = sampleRecord(clock.now())
    expect(repository.absoluteExpiry(record)).toBe(record.createdAt + 30 * MINUTE)
    let expiresAt = (await repository.create('session-1', record)).expiresAt
    expect(expiresAt).toBe(clock.now() + 10 * MINUTE)

    // Used every 2 minutes: the idle timeout never strikes.
    while (clock.now() + 2 * MINUTE < record.createdAt + 30 * MINUTE) {
      clock.advance(2 * MINUTE)
      const loaded = await repository.load('session-1')
      expect(loaded, `${(clock.now() - record.createdAt) / MINUTE} min after log-in`).not.toBeNull()
      expiresAt = await repository.touchIfDue('session-1', loaded?.record as SessionRecord, loaded?.expiresAt as number)
      // The store never keeps it past the absolute lifetime.
      expect(expiresAt).toBeLessThanOrEqual(record.createdAt + 30 * MINUTE)
      expect(expiresAt).toBeGreaterThan(clock.now())
    }
    clock.set(record.createdAt + 30 * MINUTE)
    expect(await repository.load('session-1')).toBeNull()
  })

  it('refuses a stored record already past its absolute lifetime, whatever the store still holds', async () => {
    const { repository, clock } = repositoryWith({ idleTimeoutMs: 10 * MINUTE, maxAgeMs: 30 * MINUTE })
    // Logged in 31 minutes ago: only the repository's own check can end it now.
    await repository.create('session-1', sampleRecord(clock.now() - 31 * MINUTE))
    expect(await repository.load('session-1')).toBeNull()
  })

  it('ends a session unused for the idle timeout', async () => {
    const { repository, clock } = repositoryWith({ idleTimeoutMs: 10 * MINUTE, maxAgeMs: 60 * MINUTE })
    await repository.create('session-1', sampleRecord(clock.now()))
    clock.advance(10 * MINUTE - 1)
    expect(await repository.load('session-1')).not.toBeNull()
    clock.advance(1)
    expect(await repository.load('session-1')).toBeNull()
  })

  it.each([
    ['a long idle timeout', 60 * MINUTE, 60_000],
    ['a 100 s idle timeout', 100_000, 10_000],
    ['a 1 s idle timeout', 1_000, 100]
  ])('touchIfDue with %s writes at most about once per min(60 s, idle/10)', async (_label, idleTimeoutMs, interval) => {
    const { repository, store, clock } = repositoryWith({ idleTimeoutMs, maxAgeMs: 1_000 * idleTimeoutMs })
    const record = sampleRecord(clock.now())
    let expiresAt = (await repository.create('session-1', record)).expiresAt
    const step = interval / 20
    const duration = interval * 10
    for (let elapsed = 0; elapsed < duration; elapsed += step) {
      clock.advance(step)
      expiresAt = await repository.touchIfDue('session-1', record, expiresAt)
      expect(expiresAt).toBeGreaterThan(clock.now())
      // Never further from a full idle timeout than one interval.
      expect(clock.now() + idleTimeoutMs - expiresAt).toBeLessThanOrEqual(interval)
    }
    // A request every interval/20: writes stay at about one per interval, not one per request.
    expect(store.touches).toBeGreaterThanOrEqual(duration / interval - 1)
    expect(store.touches).toBeLessThanOrEqual(duration / interval + 1)
    expect((await store.get('session-1'))?.expiresAt).toBe(expiresAt)
  })

  it('touchIfDue does not claim to extend a session that is gone', async () => {
    const { repository, clock } = repositoryWith({ idleTimeoutMs: 10 * MINUTE, maxAgeMs: 60 * MINUTE })
    const record = sampleRecord(clock.now())
    const { expiresAt } = await repository.create('session-1', record)
    await repository.destroy('session-1')
    clock.advance(5 * MINUTE)
    expect(await repository.touchIfDue('session-1', record, expiresAt)).toBe(expiresAt)
    expect(await repository.load('session-1')).toBeNull()
  })

  it('update is compare-and-set and never revives a destroyed session', async () => {
    const { repository, clock } = repositoryWith({ idleTimeoutMs: 10 * MINUTE, maxAgeMs: 60 * MINUTE })
    const record = sampleRecord(clock.now())
    const created = await repository.create('session-1', record)
    const updated = await repository.update('session-1', created.version, record)
    expect(updated?.version).toBe(created.version + 1)
    expect(await repository.update('session-1', created.version, record)).toBeNull()
    await repository.destroy('session-1')
    expect(await repository.update('session-1', updated?.version as number, record)).toBeNull()
    expect(await repository.load('session-1')).toBeNull()
  })

  it('reads nothing under another session id or a retired secret', async () => {
    const { repository, store, clock } = repositoryWith({ idleTimeoutMs: 10 * MINUTE, maxAgeMs: 60 * MINUTE })
    await repository.create('session-1', sampleRecord(clock.now()))
    // A record copied to another id fails its associated data.
    const stored = await store.get('session-1')
    await store.create('session-2', 'user-1', stored?.data as string, MINUTE)
    expect(await repository.load('session-2')).toBeNull()
    const retired = new SessionRepository(store, new SessionCipher([SECRET_B]), repository.lifetimes, clock.now)
    expect(await retired.load('session-1')).toBeNull()
    const rotating = new SessionRepository(store, new SessionCipher([SECRET_B, SECRET_A]), repository.lifetimes, clock.now)
    expect((await rotating.load('session-1'))?.record.user.email).toBe('demo@example.com')
  })

  it('destroyOwner ends all sessions of a user, known by id or else by case-insensitive email', async () => {
    const { repository, clock } = repositoryWith({ idleTimeoutMs: 10 * MINUTE, maxAgeMs: 60 * MINUTE })
    const now = clock.now()
    await repository.create('by-id-1', sampleRecord(now, { id: 'user-1', email: 'demo@example.com' }))
    await repository.create('by-id-2', sampleRecord(now, { id: 'user-1', email: 'demo@example.com' }))
    await repository.create('other', sampleRecord(now, { id: 'user-2', email: 'admin@example.com' }))
    await repository.create('by-mail-1', sampleRecord(now, { email: 'Opaque@Example.com' }))
    await repository.create('by-mail-2', sampleRecord(now, { email: 'opaque@example.com' }))

    expect(await repository.destroyOwner(sampleRecord(now, { id: 'user-1', email: 'demo@example.com' }))).toBe(2)
    expect(await repository.destroyOwner(sampleRecord(now, { email: 'OPAQUE@example.com' }))).toBe(2)
    for (const id of ['by-id-1', 'by-id-2', 'by-mail-1', 'by-mail-2']) expect(await repository.load(id)).toBeNull()
    expect(await repository.load('other')).not.toBeNull()
  })
})
