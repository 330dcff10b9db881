// Baseline for stream latency: the least a proxy hop in its own process can cost on this
// machine. Plain node:http and one undici Pool, no framework, no checks: POST /api/agents/:id/response
// → UPSTREAM /api/agent/:id/response with a fixed token, the answer written on chunk by chunk.
// Prints {"url": ...}.
import { createServer } from 'node:http'
import { Pool } from 'undici'

const pool = new Pool(process.env.UPSTREAM ?? 'http://127.0.0.1:1', { connections: 128 })
const server = createServer(async (req, res) => {
  try {
    const chunks = []
    for await (const chunk of req) chunks.push(chunk)
    const answer = await pool.request({
      method: req.method,
      path: (req.url ?? '/').replace(/^\/api\/agents\//, '/api/agent/'),
      headers: { authorization: 'Bearer fixed-token', 'content-type': 'application/json', accept: req.headers.accept ?? '*/*' },
      body: Buffer.concat(chunks)
    })
    res.writeHead(answer.statusCode, { 'content-type': answer.headers['content-type'] ?? 'application/octet-stream' })
    for await (const chunk of answer.body) res.write(chunk)
    res.end()
  } catch {
    res.destroy()
  }
})
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })))
