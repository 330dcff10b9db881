// Baseline (b): the thinnest Fastify proxy. @fastify/http-proxy with a fixed token and no
// session: /api/agents/:id/chat-threads → UPSTREAM /api/agent/:id/chat-threads. Plain
// Node.js like the BFF under test, with its logger at the same level. Prints {"url": ...}.
import httpProxy from '@fastify/http-proxy'
import Fastify from 'fastify'

const upstream = process.env.UPSTREAM ?? 'http://127.0.0.1:1'
const authorization = `Bearer ${process.env.TOKEN ?? 'fixed-token'}`
const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'warn' } })
await app.register(httpProxy, {
  upstream,
  prefix: '/api/agents',
  rewritePrefix: '/api/agent',
  replyOptions: {
    rewriteRequestHeaders: (_request, headers) => ({ ...headers, authorization })
  }
})
const address = await app.listen({ port: 0, host: '127.0.0.1' })
console.log(JSON.stringify({ url: address }))
