/**
 * Memory per idle logged-in session in the in-process store.
 * Run: node --expose-gc --import tsx bench/session-memory.ts [count]
 *
 * Each session holds a real pair of simulator-issued JWTs (the size Ejento's are), the user,
 * and is stored exactly as a log-in stores it: serialised, encrypted, in the bounded store.
 */
import { randomBytes } from 'node:crypto'
import { SessionCipher } from '../src/session/cipher.js'
import { MemorySessionStore } from '../src/session/memory-store.js'
import { SessionRepository } from '../src/session/repository.js'
import { SimulatorState } from '../src/simulator/state.js'
import { parseTokenAnswer, tokenSubject } from '../src/tokens/token-set.js'

const count = Number(process.argv[2] ?? 100_000)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

const simulator = new SimulatorState()
const store = new MemorySessionStore({ maxCount: count })
const sessions = new SessionRepository(store, new SessionCipher([randomBytes(32).toString('base64url')]), {
  idleTimeoutMs: 3_600_000,
  maxAgeMs: 12 * 3_600_000
})

// Distinct users, so that no string is shared between sessions.
const users = Array.from({ length: 1000 }, (_, index) => simulator.addUser({ email: `user${index}@example.com`, password: 'benchmark-password' }))

const settle = (): number => {
  for (let round = 0; round < 4; round++) gc()
  return process.memoryUsage().heapUsed + process.memoryUsage().external + process.memoryUsage().arrayBuffers
}

const before = settle()
let tokenBytes = 0
for (let index = 0; index < count; index++) {
  const user = users[index % users.length] as (typeof users)[number]
  const tokens = parseTokenAnswer(simulator.tokenPair(user), Date.now(), 172_800_000)
  if (tokens === null) throw new Error('no tokens')
  tokenBytes += tokens.authToken.length + tokens.ejentoToken.length
  await sessions.create(randomBytes(24).toString('base64url'), { user: { id: tokenSubject(tokens.authToken), email: user.email }, tokens, createdAt: Date.now() })
  // The simulator remembers what it issued; the benchmark measures the store alone.
  simulator.issuedTokens.length = 0
}
const after = settle()

const perSession = (after - before) / count
console.log(JSON.stringify({
  sessions: store.size,
  bytesPerSession: Math.round(perSession),
  kibPerSession: Number((perSession / 1024).toFixed(2)),
  averageTokenPairBytes: Math.round(tokenBytes / count),
  targetKib: 2,
  met: perSession < 2048,
  node: process.version
}, null, 2))
await store.close()
