import { createParser } from 'eventsource-parser'
import type { EventSourceMessage } from 'eventsource-parser'
import { ClientError } from './errors.js'
import { DEFAULT_MAX_EVENT_SIZE } from './http.js'
import type { components } from './openapi.js'
import type { AskAnswer } from './types.js'

/*
 * An agent's answer as a stream of typed events, in either of the BFF's two formats (the
 * path profile decides which): the access guide's named events (`event: start|token|end|error`)
 * or hosted Ejento's (v2) unnamed `data:` lines switched on `step`. The BFF's own error at a
 * failure mid-stream comes in the stream's format, with `code: 'upstream_stream_failed'`.
 */

type Schemas = components['schemas']

/** The data of the guide's `error` event, or of v2's `error` step: the BFF's own carries `code: 'upstream_stream_failed'`. */
export type StreamErrorData = Schemas['GuideStreamError'] | Schemas['V2StreamError']

/** The access guide's named events (`event: start|token|end|error`); the data types are the document's. */
export type GuideEvent =
  | { format: 'guide', type: 'start', data: Schemas['GuideStreamStart'] }
  /** The next piece of the answer's text. */
  | { format: 'guide', type: 'token', data: Schemas['GuideStreamToken'] }
  /** The whole answer; the stream ends. */
  | { format: 'guide', type: 'end', data: Schemas['GuideStreamEnd'] }
  | { format: 'guide', type: 'error', data: Schemas['GuideStreamError'] }

/** Hosted Ejento's (v2) `data:` lines, told apart by `step`; the data types are the document's. */
export type StepEvent =
  /** The next piece of the answer's text. */
  | { format: 'v2', type: 'assistant_stream', data: Schemas['V2StreamDelta'] & { step: 'assistant_stream' } }
  /** The next piece of the agent's thought process (its tools). */
  | { format: 'v2', type: 'tools_stream', data: Schemas['V2StreamDelta'] & { step: 'tools_stream' } }
  | { format: 'v2', type: 'reflection_end', data: Schemas['V2StreamReflection'] & { step: 'reflection_end' } }
  | { format: 'v2', type: 'reflection_skip', data: Schemas['V2StreamReflection'] & { step: 'reflection_skip' } }
  /** The whole answer; the stream ends. */
  | { format: 'v2', type: 'end', data: Schemas['V2StreamEnd'] }
  | { format: 'v2', type: 'error', data: Schemas['V2StreamError'] }
  /** Any other step: a status to show (`{step, message}`). */
  | { format: 'v2', type: 'status', data: Schemas['V2StreamStatus'] }

/** The whole answer at once: the BFF answered JSON although a stream was asked for. */
export interface AnswerEvent { format: 'json', type: 'answer', data: AskAnswer }

/**
 * An event of neither format, or whose data is not what the document says (an unknown name, data
 * that is not JSON, an `end` without its answer): passed on as it came, not dropped.
 */
export interface UnknownEvent { format: 'unknown', type: 'unknown', event: string, data: unknown }

export type AskEvent = GuideEvent | StepEvent | AnswerEvent | UnknownEvent

/**
 * The events of an event-stream body, each as soon as its blank line arrives. Parsed by
 * eventsource-parser. Leaving early (`break`, an exception, an abort) cancels the body, which
 * closes the connection: the BFF then aborts its call to Ejento. An event longer than
 * `maxEventSize` characters (its data, or what has arrived of it) stops the stream the same way,
 * with ClientError `stream_event_too_large`, once the events before it are yielded.
 */
export async function * askEvents (body: ReadableStream<Uint8Array>, options: { maxEventSize?: number } = {}): AsyncGenerator<AskEvent, void, undefined> {
  const maxEventSize = options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE
  const messages: EventSourceMessage[] = []
  let overflowed = false
  const parser = createParser({
    // An event that arrived whole in one read is checked here; one still arriving, by the parser.
    onEvent: (message) => { if (message.data.length > maxEventSize) overflowed = true; else if (!overflowed) messages.push(message) },
    // eventsource-parser stops buffering past this many characters and reports it here.
    maxBufferSize: maxEventSize,
    onError: (error) => { if (error.type === 'max-buffer-size-exceeded') overflowed = true }
  })
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
      if (overflowed) throw new ClientError('stream_event_too_large', `An event of the stream is longer than ${maxEventSize} characters (maxEventSize): the stream was stopped.`)
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
        return isAnswer(data.output, 'thread_id') ? { format: 'v2', type: step, data: { ...data, step, output: data.output } } : unknown
      case 'error':
        return hasText(data, 'message', 'code') ? { format: 'v2', type: step, data: { ...data, step } } : unknown
      default:
        return hasText(data, 'message') ? { format: 'v2', type: 'status', data: { ...data, step } } : unknown
    }
  }
  switch (name) {
    case 'start':
      return data.chat_thread_id === undefined || isId(data.chat_thread_id) ? { format: 'guide', type: 'start', data } : unknown
    case 'token':
      return typeof data.delta === 'string' ? { format: 'guide', type: 'token', data: { ...data, delta: data.delta } } : unknown
    case 'end':
      return isAnswer(data.output, 'chat_thread_id') ? { format: 'guide', type: 'end', data: { ...data, output: data.output } } : unknown
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

/** An answer as the document requires it: its text, and the conversation it belongs to. */
function isAnswer<Thread extends string> (output: unknown, thread: Thread): output is { answer: string } & Record<Thread, number | string> {
  return isObject(output) && typeof output.answer === 'string' && isId(output[thread])
}

function isId (value: unknown): value is number | string {
  return typeof value === 'number' || typeof value === 'string'
}

/** True when each of these fields is a string or absent, as the event's type says. */
function hasText (data: Record<string, unknown>, ...fields: string[]): boolean {
  return fields.every((field) => data[field] === undefined || typeof data[field] === 'string')
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
