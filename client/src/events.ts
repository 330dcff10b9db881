import { createParser } from 'eventsource-parser'
import type { EventSourceMessage } from 'eventsource-parser'
import type { AskAnswer } from './types.js'

/*
 * An agent's answer as a stream of typed events, in either of the BFF's two formats (the
 * path profile decides which): the access guide's named events (`event: start|token|end|error`)
 * or hosted Ejento's (v2) unnamed `data:` lines switched on `step`. The BFF's own error at a
 * failure mid-stream comes in the stream's format, with `code: 'upstream_stream_failed'`.
 */

/** Extra fields Ejento may add pass through untouched. */
interface Open { [field: string]: unknown }

/** What the BFF and Ejento both say of a failure; the BFF's own carries `code`. */
export interface StreamErrorData extends Open {
  message?: string
  /** `upstream_stream_failed` when the BFF ended the stream because Ejento's broke off. */
  code?: string
}

/** The access guide's answer, at the end of its stream. */
export interface GuideOutput extends Open {
  answer?: string
  references?: unknown[]
  chat_thread_id?: number | string
}

/** Hosted Ejento's (v2) answer, at the end of its stream. */
export interface StepOutput extends Open {
  answer?: string
  references?: Array<{ number?: number, url?: string, order?: number } & Open>
  followup_questions?: string[]
  thread_id?: number | string
  chat_thread_name?: string
  agent_response_id?: number | string
  guardrail_triggered?: boolean
  blocked?: boolean
}

export type GuideEvent =
  | { format: 'guide', type: 'start', data: Open & { chat_thread_id?: number | string } }
  | { format: 'guide', type: 'token', data: Open & { delta: string } }
  | { format: 'guide', type: 'end', data: Open & { output: GuideOutput } }
  | { format: 'guide', type: 'error', data: StreamErrorData }

export type StepEvent =
  /** A piece of the answer's text. */
  | { format: 'v2', type: 'assistant_stream', data: Open & { step: 'assistant_stream', delta: string } }
  /** A piece of the agent's thought process (its tools). */
  | { format: 'v2', type: 'tools_stream', data: Open & { step: 'tools_stream', delta: string } }
  | { format: 'v2', type: 'reflection_end', data: Open & { step: 'reflection_end', message?: string } }
  | { format: 'v2', type: 'reflection_skip', data: Open & { step: 'reflection_skip', message?: string } }
  | { format: 'v2', type: 'end', data: Open & { step: 'end', success?: boolean, output: StepOutput } }
  | { format: 'v2', type: 'error', data: StreamErrorData & { step: 'error' } }
  /** Any other step: a status to show (`{step, message}`). */
  | { format: 'v2', type: 'status', data: Open & { step: string, message?: string } }

/** The whole answer at once: the BFF answered JSON although a stream was asked for. */
export interface AnswerEvent { format: 'json', type: 'answer', data: AskAnswer }

/** An event of neither format (an unknown name, data that is not JSON): passed on, not dropped. */
export interface UnknownEvent { format: 'unknown', type: 'unknown', event: string, data: unknown }

export type AskEvent = GuideEvent | StepEvent | AnswerEvent | UnknownEvent

/**
 * The events of an event-stream body, each as soon as its blank line arrives. Parsed by
 * eventsource-parser. Leaving early (`break`, an exception, an abort) cancels the body, which
 * closes the connection: the BFF then aborts its call to Ejento.
 */
export async function * askEvents (body: ReadableStream<Uint8Array>): AsyncGenerator<AskEvent, void, undefined> {
  const messages: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (message) => { messages.push(message) } })
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let lastCharacter = ''
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) break
      const text = decoder.decode(value, { stream: true })
      if (text === '') continue
      parser.feed(text)
      lastCharacter = text.slice(-1)
      for (const message of messages.splice(0)) yield * eventsOf(message)
    }
    // v2 ends its stream by closing the connection, perhaps without the blank line after its
    // last event: a last event whose lines all arrived whole still counts. (A line cut short
    // stays dropped, as the standard says.)
    if (lastCharacter === '\n' || lastCharacter === '\r') parser.feed('\n\n')
    for (const message of messages.splice(0)) yield * eventsOf(message)
  } finally {
    await reader.cancel().catch(() => {})
  }
}

/** The typed events one message holds (usually one; see `payloadsOf`). */
export function eventsOf (message: Pick<EventSourceMessage, 'event' | 'data'>): AskEvent[] {
  const name = message.event ?? 'message'
  return payloadsOf(message.data).map((payload) => payload === undefined
    ? { format: 'unknown', type: 'unknown', event: name, data: message.data }
    : eventOf(name, payload.value))
}

function eventOf (name: string, data: unknown): AskEvent {
  const unknown: UnknownEvent = { format: 'unknown', type: 'unknown', event: name, data }
  if (!isObject(data)) return unknown
  if (name === 'message' && typeof data.step === 'string') {
    const step = data.step
    switch (step) {
      case 'assistant_stream':
        return typeof data.delta === 'string' ? { format: 'v2', type: step, data: { ...data, step, delta: data.delta } } : unknown
      case 'tools_stream':
        return typeof data.delta === 'string' ? { format: 'v2', type: step, data: { ...data, step, delta: data.delta } } : unknown
      case 'reflection_end':
        return hasText(data, 'message') ? { format: 'v2', type: step, data: { ...data, step } } : unknown
      case 'reflection_skip':
        return hasText(data, 'message') ? { format: 'v2', type: step, data: { ...data, step } } : unknown
      case 'end':
        return isObject(data.output) ? { format: 'v2', type: step, data: { ...data, step, output: data.output } } : unknown
      case 'error':
        return hasText(data, 'message', 'code') ? { format: 'v2', type: step, data: { ...data, step } } : unknown
      default:
        return hasText(data, 'message') ? { format: 'v2', type: 'status', data: { ...data, step } } : unknown
    }
  }
  switch (name) {
    case 'start':
      return { format: 'guide', type: 'start', data }
    case 'token':
      return typeof data.delta === 'string' ? { format: 'guide', type: 'token', data: { ...data, delta: data.delta } } : unknown
    case 'end':
      return isObject(data.output) ? { format: 'guide', type: 'end', data: { ...data, output: data.output } } : unknown
    case 'error':
      return hasText(data, 'message', 'code') ? { format: 'guide', type: 'error', data } : unknown
    default:
      return unknown
  }
}

/**
 * The JSON payloads of one message's data: its lines joined, as the standard reads them; or,
 * when that is not JSON, each line on its own (a stream that forgot the blank line between two
 * `data: {...}` lines still gives both). `undefined` stands for data that is not JSON.
 */
function payloadsOf (data: string): Array<{ value: unknown } | undefined> {
  const joined = parseJson(data)
  const lines = data.split('\n')
  if (joined !== undefined || lines.length === 1) return [joined]
  return lines.map(parseJson)
}

function parseJson (text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) }
  } catch {
    return undefined
  }
}

/** True when each of these fields is a string or absent, as the event's type says. */
function hasText (data: Record<string, unknown>, ...fields: string[]): boolean {
  return fields.every((field) => data[field] === undefined || typeof data[field] === 'string')
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
