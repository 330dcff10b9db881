/**
 * The shapes of the answers the routes give, one schema per concept, shared by every route and
 * named in the OpenAPI document (`#/components/schemas/<$id>`): the BFF's problem, and what
 * Ejento answers as the API access guide ("guide") and hosted Ejento ("v2") define it.
 *
 * Ejento's answers are described, never enforced: every object takes extra fields
 * (`additionalProperties: true`), and the routes send the upstream's JSON as bytes, which
 * Fastify never serialises (a schema can neither drop nor coerce a field). Those bytes are the
 * upstream's own, byte for byte, unless the BFF had to take something out (a token or password
 * field, a credential the call carried) or add a field (`ended_sessions`): only then is the body
 * re-written, keeping every key (`__proto__` too) and every number as the upstream wrote it
 * (see routes/upstream-json.ts). A refusal that is not an error object becomes a `Problem`.
 * Fields the two profiles name differently are optional, or the shapes are alternatives (`anyOf`).
 */

/** A reference to one of these schemas, as Fastify resolves it (and @fastify/swagger names it). */
export function ref (name: SchemaId): { $ref: string } {
  return { $ref: `${name}#` }
}

/** The same reference as the finished OpenAPI document spells it (for `x-` extensions, which nothing rewrites). */
export function documentRef (name: SchemaId): { $ref: string } {
  return { $ref: `#/components/schemas/${name}` }
}

/** Ejento's ids: integers on hosted Ejento, sometimes strings (uuids for users). */
const id = { type: ['integer', 'string'] } as const
const text = { type: 'string' } as const
const nullableText = { type: ['string', 'null'] } as const
/** Upstream timestamps are ISO 8601 text, not always RFC 3339 (Python leaves the zone out): no `format`. */
const timestamp = { type: 'string', description: 'ISO 8601' } as const

/** Hosted Ejento's (and the guide's API server's) envelope around `data`. */
function envelope<Name extends SchemaId> (name: Name, data: Record<string, unknown> | undefined, description: string): { $id: Name } & Record<string, unknown> {
  return {
    $id: name,
    type: 'object',
    description,
    properties: {
      success: { type: 'boolean', description: 'true for an answer, false for a refusal' },
      message: text,
      ...(data === undefined ? {} : { data })
    },
    required: data === undefined ? ['success'] : ['success', 'data'],
    additionalProperties: true
  }
}

// ---- The BFF's own -----------------------------------------------------------------------

/** A problem made by the BFF (RFC 9457), served as application/problem+json. */
export const Problem = {
  $id: 'Problem',
  type: 'object',
  description: 'An error the BFF answers itself (RFC 9457 problem details), always application/problem+json',
  properties: {
    type: text,
    title: text,
    status: { type: 'integer' },
    code: { type: 'string', description: 'Stable, machine-readable' },
    detail: text,
    errors: {
      type: 'array',
      description: 'validation_failed: what is wrong, where',
      items: { type: 'object', properties: { path: text, message: text }, additionalProperties: true }
    }
  },
  required: ['type', 'title', 'status', 'code'],
  additionalProperties: true
} as const

// ---- Errors of the upstreams, passed through -------------------------------------------------

export const UpstreamError = {
  $id: 'UpstreamError',
  type: 'object',
  description: 'A refusal of an Ejento server, passed through with its status: FastAPI\'s `{detail}` from the authentication server (a sentence, or a list of validation errors), `{success: false, message}` from the API server',
  properties: {
    detail: {
      description: 'Authentication server: a sentence, or (422) the validation errors',
      anyOf: [text, { type: 'array', items: { type: 'object', properties: { loc: { type: 'array' }, msg: text, type: text }, additionalProperties: true } }]
    },
    success: { type: 'boolean', description: 'API server: false' },
    message: text
  },
  additionalProperties: true
} as const

// ---- Users (authentication server, the same on both profiles) --------------------------------

export const User = {
  $id: 'User',
  type: 'object',
  description: 'A user of the authentication server (FastAPI); never a password',
  properties: {
    id: { ...id, description: 'A uuid string or an integer' },
    email: text,
    full_name: nullableText,
    is_active: { type: 'boolean' },
    is_superuser: { type: 'boolean' }
  },
  required: ['id', 'email'],
  additionalProperties: true
} as const

export const UserList = {
  $id: 'UserList',
  type: 'object',
  description: 'A page of users',
  properties: {
    data: { type: 'array', items: ref('User') },
    count: { type: 'integer', description: 'How many users there are in all' }
  },
  required: ['data'],
  additionalProperties: true
} as const

/** What the BFF adds to an answer after a change that ended sessions. */
const endedSessions = { type: 'integer', minimum: 0, description: 'How many of the user\'s sessions the BFF ended after the change' } as const

export const UserChanged = {
  $id: 'UserChanged',
  description: 'The changed user; `ended_sessions` when the change (password, e-mail, deactivation) ended their sessions',
  allOf: [ref('User'), { type: 'object', properties: { ended_sessions: endedSessions }, additionalProperties: true }]
} as const

export const PasswordChanged = {
  $id: 'PasswordChanged',
  type: 'object',
  description: 'The authentication server\'s answer, and how many other sessions the BFF ended (this one was renewed)',
  properties: {
    message: text,
    ended_sessions: endedSessions
  },
  additionalProperties: true
} as const

// ---- Conversations (API server) --------------------------------------------------------------

export const ChatThread = {
  $id: 'ChatThread',
  type: 'object',
  description: 'A conversation with an agent. The guide names its agent `agent_id`; v2 `agent`, and adds `created_by` and `updated_at`',
  properties: {
    id,
    title: nullableText,
    agent_id: { ...id, description: 'guide' },
    agent: { ...id, description: 'v2' },
    created_by: { type: ['string', 'null'], description: 'v2: the creator\'s e-mail' },
    created_at: timestamp,
    updated_at: timestamp
  },
  required: ['id'],
  additionalProperties: true
} as const

export const ChatThreadAnswer = envelope('ChatThreadAnswer', ref('ChatThread'), 'A conversation just created (201) or renamed (200)')

export const ChatThreadList = envelope('ChatThreadList', {
  type: 'object',
  properties: { chat_threads: { type: 'array', items: ref('ChatThread') } },
  required: ['chat_threads'],
  additionalProperties: true
}, 'The user\'s conversations with an agent, newest first (v2)')

export const Deleted = envelope('Deleted', undefined, 'Deleted (v2)')

// ---- Answers of agents (API server) ----------------------------------------------------------

export const Reference = {
  $id: 'Reference',
  type: 'object',
  description: 'A source of an answer. The guide gives a `title` and `url`; v2 a `number`, `url` and `order`',
  properties: {
    title: nullableText,
    url: nullableText,
    number: { type: 'integer' },
    order: { type: 'integer' }
  },
  additionalProperties: true
} as const

const references = { type: 'array', items: ref('Reference') } as const
const followupQuestions = { type: 'array', items: text, description: 'Questions the user may ask next' } as const

export const GuideAnswerData = {
  $id: 'GuideAnswerData',
  type: 'object',
  description: 'An agent\'s answer on the guide\'s upstream',
  properties: {
    answer: text,
    references,
    chat_thread_id: { ...id, description: 'The conversation (the one the BFF started, when none was given)' },
    agent_id: id
  },
  required: ['answer', 'chat_thread_id'],
  additionalProperties: true
} as const

export const V2AnswerData = {
  $id: 'V2AnswerData',
  type: 'object',
  description: 'An agent\'s answer on hosted Ejento (v2)',
  properties: {
    answer: text,
    references,
    followup_questions: followupQuestions,
    thread_id: { ...id, description: 'The conversation (the one the question started, when none was given)' },
    chat_thread_name: nullableText,
    agent_response_id: { ...id, description: 'Names the answer in POST /api/responses/{responseId}/feedback' }
  },
  required: ['answer', 'thread_id'],
  additionalProperties: true
} as const

export const AgentAnswer = envelope('AgentAnswer', {
  anyOf: [ref('GuideAnswerData'), ref('V2AnswerData')]
}, 'An agent\'s answer as JSON: the guide\'s data names the conversation `chat_thread_id`, v2\'s `thread_id`')

export const AgentResponse = {
  $id: 'AgentResponse',
  type: 'object',
  description: 'One question of a conversation and its answer (v2)',
  properties: {
    id: { ...id, description: 'The agent response id, for feedback' },
    question: text,
    response: {
      type: 'object',
      properties: { answer: text, references, followup_questions: followupQuestions },
      additionalProperties: true
    },
    feedback: { type: 'array', items: { type: 'object', properties: { vote_type: text }, additionalProperties: true } }
  },
  required: ['id'],
  additionalProperties: true
} as const

export const ThreadHistory = envelope('ThreadHistory', {
  type: 'object',
  properties: { agent_responses: { type: 'array', items: ref('AgentResponse') } },
  required: ['agent_responses'],
  additionalProperties: true
}, 'A conversation\'s questions and answers, oldest first (v2)')

export const FeedbackAnswer = envelope('FeedbackAnswer', {
  type: 'object',
  properties: { id, vote_type: text },
  additionalProperties: true
}, 'The vote recorded (v2: one per answer; a new one replaces it)')

// ---- Streamed answers: one event's `data` ----------------------------------------------------

export const GuideStreamStart = {
  $id: 'GuideStreamStart',
  type: 'object',
  description: 'guide, `event: start`: the answer begins',
  properties: { chat_thread_id: id },
  additionalProperties: true
} as const

export const GuideStreamToken = {
  $id: 'GuideStreamToken',
  type: 'object',
  description: 'guide, `event: token`: the next piece of the answer\'s text',
  properties: { delta: text },
  required: ['delta'],
  additionalProperties: true
} as const

export const GuideStreamEnd = {
  $id: 'GuideStreamEnd',
  type: 'object',
  description: 'guide, `event: end`: the whole answer; the stream ends',
  properties: { output: ref('GuideAnswerData') },
  required: ['output'],
  additionalProperties: true
} as const

export const GuideStreamError = {
  $id: 'GuideStreamError',
  type: 'object',
  description: 'guide, `event: error`: the upstream\'s error, or the BFF\'s own when the upstream failed mid-stream: `{"code": "upstream_stream_failed", "message": ...}`',
  properties: {
    code: { type: 'string', description: 'upstream_stream_failed: the BFF\'s own event' },
    message: text
  },
  additionalProperties: true
} as const

/** v2 steps with a schema of their own; any other step is a status line. */
const V2_STEPS = ['assistant_stream', 'tools_stream', 'reflection_end', 'reflection_skip', 'end', 'error'] as const

export const V2StreamDelta = {
  $id: 'V2StreamDelta',
  type: 'object',
  description: 'v2: the next piece of the answer\'s text (`assistant_stream`) or of the thought process (`tools_stream`)',
  properties: { step: { enum: ['assistant_stream', 'tools_stream'] }, delta: text },
  required: ['step', 'delta'],
  additionalProperties: true
} as const

export const V2StreamReflection = {
  $id: 'V2StreamReflection',
  type: 'object',
  description: 'v2: the agent finished (`reflection_end`) or skipped (`reflection_skip`) reflecting',
  properties: { step: { enum: ['reflection_end', 'reflection_skip'] }, message: text },
  required: ['step'],
  additionalProperties: true
} as const

export const V2StreamEnd = {
  $id: 'V2StreamEnd',
  type: 'object',
  description: 'v2, `end`: the whole answer; the stream ends (its connection closes)',
  properties: {
    step: { const: 'end' },
    success: { type: 'boolean' },
    output: {
      allOf: [ref('V2AnswerData'), {
        type: 'object',
        properties: { guardrail_triggered: { type: 'boolean' }, blocked: { type: 'boolean' } },
        additionalProperties: true
      }]
    }
  },
  required: ['step', 'output'],
  additionalProperties: true
} as const

export const V2StreamError = {
  $id: 'V2StreamError',
  type: 'object',
  description: 'v2, `error`: the upstream\'s error, or the BFF\'s own when the upstream failed mid-stream: `{"step": "error", "message": ..., "code": "upstream_stream_failed"}`',
  properties: {
    step: { const: 'error' },
    message: text,
    code: { type: 'string', description: 'upstream_stream_failed: the BFF\'s own event' }
  },
  required: ['step'],
  additionalProperties: true
} as const

export const V2StreamStatus = {
  $id: 'V2StreamStatus',
  type: 'object',
  description: 'v2: any other step, a status to show (e.g. searching)',
  properties: { step: { type: 'string', not: { enum: V2_STEPS } }, message: text },
  required: ['step'],
  additionalProperties: true
} as const

export const V2StreamEvent = {
  $id: 'V2StreamEvent',
  description: 'v2: one `data:` line (an event without a name, SSE\'s `message`), switched on `step`',
  oneOf: [ref('V2StreamDelta'), ref('V2StreamReflection'), ref('V2StreamEnd'), ref('V2StreamError'), ref('V2StreamStatus')]
} as const

export const AgentStreamEvent = {
  $id: 'AgentStreamEvent',
  description: 'The JSON `data` of one server-sent event of an answer stream: the guide\'s named events (start, token, end, error) or a v2 step',
  anyOf: [ref('GuideStreamStart'), ref('GuideStreamToken'), ref('GuideStreamEnd'), ref('GuideStreamError'), ref('V2StreamEvent')]
} as const

/** The name of a shared schema: its `$id`, its name in the document. */
export type SchemaId = 'Problem' | 'UpstreamError' | 'User' | 'UserList' | 'UserChanged' | 'PasswordChanged' |
  'ChatThread' | 'ChatThreadAnswer' | 'ChatThreadList' | 'Deleted' |
  'Reference' | 'GuideAnswerData' | 'V2AnswerData' | 'AgentAnswer' | 'AgentResponse' | 'ThreadHistory' | 'FeedbackAnswer' |
  'GuideStreamStart' | 'GuideStreamToken' | 'GuideStreamEnd' | 'GuideStreamError' |
  'V2StreamDelta' | 'V2StreamReflection' | 'V2StreamEnd' | 'V2StreamError' | 'V2StreamStatus' | 'V2StreamEvent' | 'AgentStreamEvent'

/** Every schema above, added to Fastify before any route (a reference to one missing here fails at start). */
export const SHARED_SCHEMAS: ReadonlyArray<{ $id: SchemaId }> = [
  Problem, UpstreamError,
  User, UserList, UserChanged, PasswordChanged,
  ChatThread, ChatThreadAnswer, ChatThreadList, Deleted,
  Reference, GuideAnswerData, V2AnswerData, AgentAnswer, AgentResponse, ThreadHistory, FeedbackAnswer,
  GuideStreamStart, GuideStreamToken, GuideStreamEnd, GuideStreamError,
  V2StreamDelta, V2StreamReflection, V2StreamEnd, V2StreamError, V2StreamStatus, V2StreamEvent, AgentStreamEvent
]
