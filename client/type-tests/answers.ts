import type { components, paths } from '../src/openapi.js'
import type { AskEvent, BffClient, BffError } from '../src/index.js'

/** True only when A and B are the same type (not merely assignable either way). */
type Equal<A, B> = (<V>() => V extends A ? 1 : 2) extends (<V>() => V extends B ? 1 : 2) ? true : false
type Expect<T extends true> = T

/** What a client method's promise resolves to. */
type Resolved<K extends keyof BffClient> = BffClient[K] extends (...args: never[]) => Promise<infer R> ? R : never
/** A route's JSON answer for one status, straight from the generated paths. */
type Json<P extends keyof paths, M extends keyof paths[P], S extends PropertyKey> =
  paths[P][M] extends { responses: Record<S, { content: { 'application/json': infer Body } }> } ? Body : never
type JsonBody<P extends keyof paths, M extends keyof paths[P]> =
  paths[P][M] extends { requestBody?: { content: { 'application/json': infer Body } } } ? Body : never

// Each method's answer is the generated type of its route's 2xx answer; its body, the route's request body.
export type Answers = [
  Expect<Equal<Resolved<'loginMethods'>, Json<'/auth/methods', 'get', 200>>>,
  Expect<Equal<Resolved<'session'>, Json<'/auth/session', 'get', 200>>>,
  Expect<Equal<Resolved<'login'>, Json<'/auth/login', 'post', 200>>>,
  Expect<Equal<Resolved<'verifyPasswordless'>, Json<'/auth/passwordless/verify', 'post', 200>>>,
  Expect<Equal<Resolved<'startPasswordless'>, Json<'/auth/passwordless/start', 'post', 202>>>,
  Expect<Equal<Resolved<'sessions'>, Json<'/auth/sessions', 'get', 200>>>,
  Expect<Equal<Resolved<'signup'>, Json<'/auth/signup', 'post', 200>>>,
  Expect<Equal<Resolved<'createChatThread'>, Json<'/api/agents/{agentId}/chat-threads', 'post', 201>>>,
  Expect<Equal<Resolved<'chatThreads'>, Json<'/api/agents/{agentId}/chat-threads', 'get', 200>>>,
  Expect<Equal<Resolved<'chatThreadHistory'>, Json<'/api/chat-threads/{threadId}/responses', 'get', 200>>>,
  Expect<Equal<Resolved<'renameChatThread'>, Json<'/api/chat-threads/{threadId}', 'patch', 200>>>,
  Expect<Equal<Resolved<'askJson'>, Json<'/api/agents/{agentId}/responses', 'post', 200>>>,
  Expect<Equal<Resolved<'users'>, Json<'/api/users', 'get', 200>>>,
  Expect<Equal<Resolved<'logout'>, void>>,
  Expect<Equal<Parameters<BffClient['login']>[0], JsonBody<'/auth/login', 'post'>>>,
  Expect<Equal<Parameters<BffClient['askJson']>[1], JsonBody<'/api/agents/{agentId}/responses', 'post'>>>,
  Expect<Equal<Parameters<BffClient['ask']>[1], JsonBody<'/api/agents/{agentId}/responses', 'post'>>>,
  Expect<Equal<Parameters<BffClient['sendFeedback']>[1], JsonBody<'/api/responses/{responseId}/feedback', 'post'>['vote_type']>>,
  Expect<Equal<Parameters<BffClient['users']>[0], NonNullable<paths['/api/users']['get']['parameters']['query']> | undefined>>
]

// Every event of either format carries data of the document's event-stream schema; a JSON answer, the JSON schema.
type StreamData = paths['/api/agents/{agentId}/responses']['post']['responses'][200]['content']['text/event-stream']
export type Events = [
  Expect<Equal<Extract<AskEvent, { format: 'guide' | 'v2' }>['data'] extends StreamData ? true : false, true>>,
  Expect<Equal<Extract<AskEvent, { type: 'answer' }>['data'], Json<'/api/agents/{agentId}/responses', 'post', 200>>>,
  Expect<Equal<Extract<AskEvent, { format: 'guide', type: 'end' }>['data'], components['schemas']['GuideStreamEnd']>>,
  Expect<Equal<Extract<AskEvent, { format: 'v2', type: 'end' }>['data'], components['schemas']['V2StreamEnd']>>
]

// ...and not just anything: a wrong shape is refused.
// @ts-expect-error the session's `authenticated` is a boolean
export type WrongSession = Expect<Equal<Resolved<'session'>, { authenticated: string }>>
// @ts-expect-error the log-in methods are not unknown
export type UntypedMethods = Expect<Equal<Resolved<'loginMethods'>, unknown>>

export async function streamEvents (client: BffClient): Promise<string> {
  let text = ''
  for await (const event of client.ask(1, { user_query: 'What is Ejento?', chat_thread_id: null })) {
    const typed: AskEvent = event
    switch (typed.type) {
      case 'token':
      case 'assistant_stream':
        text += typed.data.delta
        break
      case 'end':
        // Both formats' end carry the output; v2's also says it succeeded.
        if (typed.format === 'v2') text += String(typed.data.success) + String(typed.data.output.thread_id)
        else text += String(typed.data.output.chat_thread_id)
        break
      case 'error':
        text += typed.data.code ?? typed.data.message ?? ''
        break
      case 'status':
        text += typed.data.step
        // @ts-expect-error a status has no text of the answer
        text += typed.data.delta.length
        break
      case 'answer':
        text += JSON.stringify(typed.data)
        break
    }
  }
  // @ts-expect-error a title is text
  await client.renameChatThread(1, 42)
  // @ts-expect-error a question is asked with user_query
  await client.askJson(1, { question: 'What is Ejento?' })
  return text
}

export function problemOf (error: BffError): string | undefined {
  const code: string | undefined = error.code
  const status: number = error.status
  return `${status} ${code ?? error.problem?.detail ?? ''}`
}
