import type { ServerResponse } from 'node:http'
import { agentFrom, authenticate } from '../api-server.js'
import { parseJsonObject, route, sendJson } from '../http.js'
import type { HandlerContext, Route } from '../http.js'
import type { SimAgentResponse, SimThread, SimUser, SimulatorState } from '../state.js'
import { streamSteps } from './stream.js'

/** How long a thread's title named after its first question may be. */
const TITLE_LENGTH = 40

/**
 * Hosted Ejento's API (v2): who-am-I, agents, conversations (list, history, rename, delete),
 * answers as JSON or as a `data:`-line stream, and votes. Answers are `{success, message, data}`
 * envelopes; another user's thread or response is 404, as if it did not exist.
 */
export function v2ApiRoutes (state: SimulatorState): Route[] {
  return [
    route('GET', /^\/api\/v2\/users\/me$/, (context) => withUser(state, context, (user) => whoAmI(context.res, user))),
    route('GET', /^\/api\/v2\/agents\/?$/, (context) => withUser(state, context, () => {
      sendJson(context.res, 200, { success: true, message: 'Agents fetched', data: [...state.agents.values()] })
    })),
    route('POST', /^\/api\/v2\/agents\/([^/]+)\/chat-threads$/, (context) => createThread(state, context)),
    route('GET', /^\/api\/v2\/agents\/([^/]+)\/chat-threads$/, (context) => listThreads(state, context)),
    route('POST', /^\/response-service\/api\/v2\/agents\/([^/]+)\/responses$/, (context) => respond(state, context, false)),
    route('POST', /^\/response-service\/api\/v2\/agents\/([^/]+)\/responses\/stream$/, async (context) => await respond(state, context, true)),
    route('GET', /^\/api\/v2\/chat-threads\/([^/]+)\/agent-responses$/, (context) => history(state, context)),
    route('PUT', /^\/api\/v2\/chat-threads\/([^/]+)$/, (context) => renameThread(state, context)),
    route('DELETE', /^\/api\/v2\/chat-threads\/([^/]+)$/, (context) => deleteThread(state, context)),
    route('POST', /^\/api\/v2\/agent-responses\/([^/]+)\/feedbacks$/, (context) => feedback(state, context))
  ]
}

function withUser (state: SimulatorState, context: HandlerContext, handler: (user: SimUser) => void | Promise<void>): void | Promise<void> {
  const user = authenticate(state, context)
  if (user !== undefined) return handler(user)
}

function failure (res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { success: false, message })
}

function whoAmI (res: ServerResponse, user: SimUser): void {
  const [first = '', ...rest] = (user.full_name ?? '').trim().split(/\s+/)
  sendJson(res, 200, {
    success: true,
    message: 'User fetched',
    data: { id: user.id, first_name: first, last_name: rest.join(' '), full_name: user.full_name, email: user.email, is_staff: user.is_superuser, is_superuser: user.is_superuser }
  })
}

function threadJson (thread: SimThread, user: SimUser): Record<string, unknown> {
  return { id: thread.id, title: thread.title, agent: thread.agentId, created_by: user.email, created_at: thread.createdAt, updated_at: thread.updatedAt }
}

function createThread (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, (user) => {
    const agentId = agentFrom(state, context)
    if (agentId === undefined) return
    if (parseJsonObject(context.body) === null) return failure(context.res, 400, 'Request body must be a JSON object')
    const thread = state.threads.get(state.newThread(agentId, user.id)) as SimThread
    state.count('chat_thread')
    const { updated_at: _updated, ...created } = threadJson(thread, user)
    sendJson(context.res, 201, { success: true, message: 'Chat thread created successfully', data: created })
  })
}

function listThreads (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, (user) => {
    const agentId = agentFrom(state, context)
    if (agentId === undefined) return
    const threads = [...state.threads.values()]
      .filter((thread) => thread.userId === user.id && thread.agentId === agentId)
      .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt) || b.id - a.id)
      .map((thread) => {
        const { created_by: _createdBy, ...listed } = threadJson(thread, user)
        return listed
      })
    sendJson(context.res, 200, { success: true, message: 'Chat threads fetched', data: { chat_threads: threads } })
  })
}

/** The caller's own thread named by the path, or undefined after answering 404. */
function ownThreadFrom (state: SimulatorState, { params, res }: HandlerContext, user: SimUser): SimThread | undefined {
  const id = Number(params[0])
  const thread = Number.isSafeInteger(id) ? state.ownThread(id, user.id) : undefined
  if (thread === undefined) failure(res, 404, 'Chat thread not found')
  return thread
}

function history (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, (user) => {
    const thread = ownThreadFrom(state, context, user)
    if (thread === undefined) return
    const responses = thread.responses.map((response) => ({
      id: response.id,
      question: response.question,
      response: { answer: response.answer, references: response.references, followup_questions: response.followup_questions },
      feedback: response.feedback.map(({ vote_type: voteType }) => ({ vote_type: voteType }))
    }))
    sendJson(context.res, 200, { success: true, message: 'Agent responses fetched', data: { agent_responses: responses } })
  })
}

function renameThread (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, (user) => {
    const thread = ownThreadFrom(state, context, user)
    if (thread === undefined) return
    const input = parseJsonObject(context.body)
    if (input === null) return failure(context.res, 400, 'Request body must be a JSON object')
    if (typeof input.title !== 'string' || input.title.trim() === '' || input.title.length > 255) {
      return failure(context.res, 422, 'title must be a string of 1 to 255 characters')
    }
    thread.title = input.title
    thread.updatedAt = new Date().toISOString()
    sendJson(context.res, 200, { success: true, message: 'Chat thread updated successfully', data: threadJson(thread, user) })
  })
}

function deleteThread (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, (user) => {
    const thread = ownThreadFrom(state, context, user)
    if (thread === undefined) return
    state.deleteThread(thread)
    sendJson(context.res, 200, { success: true, message: 'Chat thread deleted successfully' })
  })
}

function feedback (state: SimulatorState, context: HandlerContext): void {
  withUser(state, context, (user) => {
    const id = Number(context.params[0])
    const response = Number.isSafeInteger(id) ? state.agentResponses.get(id) : undefined
    if (response === undefined || state.ownThread(response.threadId, user.id) === undefined) {
      return failure(context.res, 404, 'Agent response not found')
    }
    const input = parseJsonObject(context.body)
    if (input === null) return failure(context.res, 400, 'Request body must be a JSON object')
    if (input.vote_type !== 'upvote' && input.vote_type !== 'downvote') {
      return failure(context.res, 422, "vote_type must be 'upvote' or 'downvote'")
    }
    sendJson(context.res, 201, { success: true, message: 'Feedback saved', data: state.vote(response, input.vote_type) })
  })
}

/** A new thread is named after its first question, trimmed to about 40 characters. */
export function titleFor (question: string): string {
  const title = question.trim().replace(/\s+/g, ' ')
  return title.length <= TITLE_LENGTH ? title : title.slice(0, TITLE_LENGTH).trimEnd()
}

async function respond (state: SimulatorState, context: HandlerContext, streamed: boolean): Promise<void> {
  const user = authenticate(state, context)
  if (user === undefined) return
  const agentId = agentFrom(state, context)
  if (agentId === undefined) return
  const input = parseJsonObject(context.body)
  if (input === null) return failure(context.res, 400, 'Request body must be a JSON object')
  if (typeof input.user_query !== 'string' || input.user_query.trim() === '') return failure(context.res, 422, 'user_query is required')
  const question = input.user_query.trim()
  const threadId = input.chat_thread_id
  if (threadId !== null && threadId !== undefined && typeof threadId !== 'number' && typeof threadId !== 'string') {
    return failure(context.res, 422, 'chat_thread_id must be a number or null')
  }
  const thread = threadId === null || threadId === undefined
    // No thread yet: this question starts one.
    ? state.threads.get(state.newThread(agentId, user.id, titleFor(question)))
    : state.ownThread(Number(threadId), user.id)
  if (thread?.agentId !== agentId) return failure(context.res, 404, 'Chat thread not found')
  // A thread created empty takes its name from its first question.
  if (thread.responses.length === 0 && thread.title === 'New chat') thread.title = titleFor(question)
  state.count('response')
  const answer = `You asked: "${question}". I am ${state.agents.get(agentId)?.name ?? 'an agent'}, answering word by word.`
  const save = (): SimAgentResponse => state.addResponse(thread, {
    question,
    answer,
    references: [{ number: 1, url: 'https://example.com/kb', order: 1 }],
    followup_questions: ['What else can you do?']
  })
  const output = (saved: SimAgentResponse): Record<string, unknown> => ({
    answer,
    references: saved.references,
    followup_questions: saved.followup_questions,
    thread_id: thread.id,
    chat_thread_name: thread.title,
    agent_response_id: saved.id
  })
  if (!streamed) return sendJson(context.res, 200, { success: true, message: 'Response generated successfully', data: output(save()) })
  const agentName = state.agents.get(agentId)?.name ?? 'the agent'
  await streamSteps(context, state.settings.streamIntervalMs, (function * () {
    for (const delta of ['Searching ', 'the knowledge base ', `of ${agentName}.`]) yield { step: 'tools_stream', delta }
    yield { step: 'reflection_end', message: 'Reflection complete' }
    for (const delta of answer.split(/(?<= )/)) yield { step: 'assistant_stream', delta }
    // Stored once fully streamed, as Ejento saves an answer it finished.
    yield { step: 'end', success: true, output: { ...output(save()), guardrail_triggered: false, blocked: false } }
  })())
}
