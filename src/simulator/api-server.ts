import { createHash } from 'node:crypto'
import { bearerToken, parseJsonObject, route, sendJson, sleep } from './http.js'
import type { HandlerContext, Route } from './http.js'
import type { SimUser, SimulatorState } from './state.js'

/**
 * The Ejento API server: agents, chat threads and agent responses, as JSON
 * (`{success, message, data}`) or as a server-sent-event stream.
 */
export function guideApiRoutes (state: SimulatorState): Route[] {
  return [
    route('GET', /^\/api\/agents\/?$/, (context) => withUser(state, context, () => {
      sendJson(context.res, 200, { success: true, message: 'Agents fetched', data: [...state.agents.values()] })
    })),
    route('POST', /^\/api\/agent\/([^/]+)\/chat-thread$/, (context) => createThread(state, context)),
    route('POST', /^\/api\/agent\/([^/]+)\/response$/, async (context) => await respond(state, context)),
    route('POST', /^\/api\/agent\/([^/]+)\/documents$/, (context) => uploadDocument(state, context))
  ]
}

function createThread (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, (user) => {
    const agentId = agentFrom(state, context)
    if (agentId === undefined) return
    const id = state.newThread(agentId, user.id)
    state.count('chat_thread')
    sendJson(context.res, 201, {
      success: true,
      message: 'Chat thread created successfully',
      data: { id, agent_id: agentId, title: 'New chat', created_at: new Date().toISOString() }
    })
  })
}

async function respond (state: SimulatorState, context: HandlerContext): Promise<void> {
  const user = authenticate(state, context)
  if (user === undefined) return
  const agentId = agentFrom(state, context)
  if (agentId === undefined) return
  const input = parseJsonObject(context.body)
  if (input === null) return sendJson(context.res, 400, { success: false, message: 'Request body must be a JSON object' })
  if (typeof input.user_query !== 'string' || input.user_query.trim() === '') {
    return sendJson(context.res, 422, { success: false, message: 'user_query is required' })
  }
  const thread = state.threads.get(Number(input.chat_thread_id))
  if (thread === undefined || thread.agentId !== agentId || thread.userId !== user.id) {
    return sendJson(context.res, 404, { success: false, message: 'Chat thread not found' })
  }
  state.count('response')
  const chatThreadId = Number(input.chat_thread_id)
  const answer = `You asked: "${input.user_query.trim()}". I am ${state.agents.get(agentId)?.name ?? 'an agent'}, answering word by word.`
  const output = { answer, references: [{ title: 'Ejento demo knowledge base', url: 'https://example.com/kb' }], chat_thread_id: chatThreadId, agent_id: agentId }
  if (context.req.headers.accept?.includes('text/event-stream') !== true) {
    return sendJson(context.res, 200, { success: true, message: 'Response generated successfully', data: output })
  }
  await stream(state, context, answer, output)
}

async function stream (state: SimulatorState, { res, record, injection }: HandlerContext, answer: string, output: unknown): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' })
  const dropAfter = injection?.dropStreamAfterEvents ?? Infinity
  const send = (event: string, data: unknown): boolean => {
    if (res.destroyed) return false
    if (record.events.length >= dropAfter) {
      res.socket?.destroy()
      return false
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    record.events.push({ event, at: Date.now() })
    return true
  }
  if (!send('start', { chat_thread_id: (output as { chat_thread_id: number }).chat_thread_id })) return
  for (const word of answer.split(/(?<= )/)) {
    await sleep(state.settings.streamIntervalMs)
    if (!send('token', { delta: word })) return
  }
  if (!send('end', { output })) return
  res.end()
}

function uploadDocument (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, () => {
    const agentId = agentFrom(state, context)
    if (agentId === undefined) return
    sendJson(context.res, 201, {
      success: true,
      message: 'Document received',
      data: {
        agent_id: agentId,
        content_type: context.req.headers['content-type'] ?? null,
        bytes: context.body.length,
        sha256: createHash('sha256').update(context.body).digest('hex')
      }
    })
  })
}

export function agentFrom (state: SimulatorState, { params, res }: HandlerContext): number | undefined {
  const agentId = Number(params[0])
  if (!Number.isSafeInteger(agentId) || !state.agents.has(agentId)) {
    sendJson(res, 404, { success: false, message: 'Agent not found' })
    return undefined
  }
  return agentId
}

export function authenticate (state: SimulatorState, context: HandlerContext): SimUser | undefined {
  const verified = state.verifyToken(bearerToken(context.req), 'ejento')
  if (verified === undefined) {
    state.count('ejento_token_rejected')
    sendJson(context.res, 401, { success: false, message: 'Invalid or expired token' })
    return undefined
  }
  return verified.user
}

export function withUser (state: SimulatorState, context: HandlerContext, handler: (user: SimUser) => void): void {
  const user = authenticate(state, context)
  if (user !== undefined) handler(user)
}
