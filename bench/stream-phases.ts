/**
 * Where the BFF's share of the time to first event goes: 150 streamed answers, one at a time,
 * through bench/servers/bff-timed.mjs; prints the client's median time to first event and the
 * medians of each step inside the BFF (ms after its onRequest hook).
 * Run alone: npm run build && node --import tsx bench/stream-phases.ts
 */
import { bffEnv, startServer } from './lib/processes.js'
import { loginCookie } from './lib/session.js'
import { percentile, timeStream } from './lib/sse.js'

const upstream = await startServer('bench/servers/fast-upstream.ts', { STREAM_EVENTS: '3', STREAM_INTERVAL_MS: '10' })
const bff = await startServer('bench/servers/bff-timed.mjs', bffEnv({ authUrl: upstream.url, apiUrl: upstream.url }))
try {
  const cookie = await loginCookie(bff.url)
  const body = JSON.stringify({ user_query: 'Where does the time go?', chat_thread_id: 1 })
  const firsts: number[] = []
  for (let index = 0; index < 150; index++) {
    const timing = await timeStream(`${bff.url}/api/agents/1/responses`, { cookie }, body)
    if (index >= 50) firsts.push(timing.firstEventMs)
  }
  console.log(JSON.stringify({ clientFirstEventP50Ms: Number(percentile(firsts, 50).toFixed(3)) }))
  // The BFF prints its medians on its stderr, which is this process's.
  bff.child.kill('SIGUSR2')
  await new Promise((resolve) => setTimeout(resolve, 500))
} finally {
  await bff.stop()
  await upstream.stop()
}
