import type { paths } from './openapi.js'

/**
 * Request and answer types read off the generated `paths` (client/src/openapi.ts, made from
 * the BFF's OpenAPI document by openapi-typescript): nothing here restates a body by hand.
 */
export type Path = keyof paths
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'

type Operation<P extends Path, M extends Method> = NonNullable<paths[P][M]>
type Responses<P extends Path, M extends Method> = Operation<P, M> extends { responses: infer R } ? R : never
type Success = 200 | 201 | 202 | 204

/** What a media type of one answer carries: its JSON, `undefined` for an answer without a body. */
type JsonOf<R> = R extends { content: { 'application/json': infer Body } }
  ? Body
  : R extends { content?: never } ? undefined : unknown

/** The JSON of a route's successful answers (every 2xx status it documents). */
export type Answer<P extends Path, M extends Method> = JsonOf<Responses<P, M>[Extract<keyof Responses<P, M>, Success>]>

/** The JSON request body a route documents. */
export type RequestBody<P extends Path, M extends Method> = Operation<P, M> extends { requestBody?: { content: { 'application/json': infer Body } } } ? Body : never

/** The query parameters a route documents. */
export type Query<P extends Path, M extends Method> = Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never

// The answers and bodies of the BFF's own routes, by name.
export type LoginMethods = Answer<'/auth/methods', 'get'>
export type Session = Answer<'/auth/session', 'get'>
export type Credentials = RequestBody<'/auth/login', 'post'>
export type LoginAnswer = Answer<'/auth/login', 'post'>
export type SignupBody = RequestBody<'/auth/signup', 'post'>
export type SignupAnswer = Answer<'/auth/signup', 'post'>
export type PasswordlessStartBody = RequestBody<'/auth/passwordless/start', 'post'>
export type PasswordlessStartAnswer = Answer<'/auth/passwordless/start', 'post'>
export type PasswordlessVerifyBody = RequestBody<'/auth/passwordless/verify', 'post'>
export type PasswordlessVerifyAnswer = Answer<'/auth/passwordless/verify', 'post'>
export type SessionList = Answer<'/auth/sessions', 'get'>
export type LogoutQuery = Query<'/auth/logout', 'post'>

// Ejento's answers, passed through by the BFF, as its document describes them.
export type NewChatThreadBody = RequestBody<'/api/agents/{agentId}/chat-threads', 'post'>
export type NewChatThreadAnswer = Answer<'/api/agents/{agentId}/chat-threads', 'post'>
export type ChatThreadList = Answer<'/api/agents/{agentId}/chat-threads', 'get'>
export type ChatThreadHistory = Answer<'/api/chat-threads/{threadId}/responses', 'get'>
export type RenameChatThreadBody = RequestBody<'/api/chat-threads/{threadId}', 'patch'>
export type RenameChatThreadAnswer = Answer<'/api/chat-threads/{threadId}', 'patch'>
export type DeleteChatThreadAnswer = Answer<'/api/chat-threads/{threadId}', 'delete'>
export type FeedbackBody = RequestBody<'/api/responses/{responseId}/feedback', 'post'>
export type FeedbackAnswer = Answer<'/api/responses/{responseId}/feedback', 'post'>
export type AskBody = RequestBody<'/api/agents/{agentId}/responses', 'post'>
export type AskAnswer = Answer<'/api/agents/{agentId}/responses', 'post'>
export type UserListQuery = Query<'/api/users', 'get'>
export type UserList = Answer<'/api/users', 'get'>
export type PasswordChangeBody = RequestBody<'/api/users/me/password', 'patch'>
export type PasswordChangeAnswer = Answer<'/api/users/me/password', 'patch'>
export type UserUpdateBody = RequestBody<'/api/users/{userId}', 'patch'>
export type UserUpdateAnswer = Answer<'/api/users/{userId}', 'patch'>
