import type { IncomingMessage } from 'node:http'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Injection, Simulator } from '../../src/simulator/index.js'
import { takeEvents } from './event-stream.js'

/**
 * The contract test: every answer a test receives through `app.inject` from a route the
 * OpenAPI document lists is checked against that document (the app's own, `app.swagger()`):
 * its status is listed for the operation, its media type is listed for that status, and its
 * body matches the media type's schema (JSON bodies whole, event streams event by event, each
 * event's `data` against the schema `x-sse-events` gives its name). A mismatch fails the
 * request's `inject` call, so the test that received the answer fails, naming route and field.
 *
 * The schemas of Ejento's answers describe Ejento's contract, which the BFF passes on. A test
 * that makes the simulated Ejento answer something else on purpose (an injected status and
 * body: an echo, a deep nesting, a thread without an id) gets that answer passed on: such an
 * answer is held to its status and media type only, while the BFF's own problems in it are
 * still checked whole.
 */

interface MediaType {
  schema?: unknown
  'x-sse-events'?: Record<string, unknown>
}

interface ResponseEntry {
  content?: Record<string, MediaType>
}

type Operation = { responses?: Record<string, ResponseEntry> }

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>
  components?: { schemas?: Record<string, unknown> }
}

/** One answer as a client received it. */
export interface Answer {
  method: string
  /** The Fastify route that answered (`/api/agents/:agentId/responses`). */
  route: string
  status: number
  contentType: string | undefined
  body: string
  /** The upstream was made to answer off Ejento's contract during the request (an injected answer). */
  upstreamMadeUp?: boolean
}

const DOCUMENT_ID = 'https://bff.test/openapi.json'

/** A Fastify route URL as the document's path: `:id` → `{id}`, a trailing `*` → `{*}`. */
export function documentPath (route: string): string {
  return route.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{*}')
}

/** Checks answers against one OpenAPI document. */
export class ContractChecker {
  readonly #document: OpenApiDocument
  readonly #ajv: Ajv2020
  readonly #validators = new Map<string, ValidateFunction>()

  constructor (document: OpenApiDocument) {
    this.#document = document
    // OpenAPI 3.1's schemas are JSON Schema 2020-12; its own keywords (example, x-...) are annotations here.
    this.#ajv = new Ajv2020({ strict: false, allErrors: true })
    addFormats.default(this.#ajv)
    this.#ajv.addSchema({ ...structuredClone(document), $id: DOCUMENT_ID })
  }

  /** Compiles every schema an answer may be checked against now, rather than during a test's first requests (some time things). */
  compileAll (): this {
    for (const [path, operations] of Object.entries(this.#document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, entry] of Object.entries(operation.responses ?? {})) {
          for (const [media, mediaType] of Object.entries(entry.content ?? {})) {
            const base = `#/paths/${escapePointer(path)}/${method}/responses/${status}/content/${escapePointer(media)}`
            this.#validator(`${base}/schema`)
            for (const name of Object.keys(mediaType['x-sse-events'] ?? {})) this.#validator(`${base}/x-sse-events/${escapePointer(name)}`)
          }
        }
      }
    }
    return this
  }

  /** Whether the document lists this route at all (the docs UI and the CORS preflight it does not). */
  documents (route: string): boolean {
    return this.#document.paths[documentPath(route)] !== undefined
  }

  /** What is wrong with the answer, or an empty list. */
  violations (answer: Answer): string[] {
    const path = documentPath(answer.route)
    const operations = this.#document.paths[path]
    if (operations === undefined) return []
    const method = answer.method.toLowerCase()
    // A GET route answers HEAD too (without a body), documented or not.
    const operationKey = operations[method] !== undefined ? method : method === 'head' ? 'get' : method
    const operation = operations[operationKey]
    const where = `${answer.method} ${path}`
    if (operation === undefined) return [`${where}: the document has no ${answer.method} operation here`]
    const responses = operation.responses ?? {}
    const status = String(answer.status)
    const statusKey = [status, `${status[0] ?? ''}XX`, 'default'].find((key) => responses[key] !== undefined)
    if (statusKey === undefined) return [`${where} answered ${status}, which the document does not list (it lists ${Object.keys(responses).join(', ')})`]
    const entry = responses[statusKey] as ResponseEntry
    const pointer = `#/paths/${escapePointer(path)}/${operationKey}/responses/${statusKey}`
    const at = `${where} → ${status}`

    if (answer.method === 'HEAD') return []
    if (entry.content === undefined) {
      return answer.body === '' ? [] : [`${at}: the document says no body, the answer has ${answer.contentType ?? 'no content type'}: ${snippet(answer.body)}`]
    }
    if (answer.body === '') return [`${at}: the document describes a body (${Object.keys(entry.content).join(', ')}), the answer has none`]
    const media = (answer.contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
    const mediaKey = [media, `${media.split('/')[0] ?? ''}/*`, '*/*'].find((key) => entry.content?.[key] !== undefined)
    if (mediaKey === undefined) return [`${at}: content type ${answer.contentType ?? '(none)'} is not documented (documented: ${Object.keys(entry.content).join(', ')})`]
    const mediaType = entry.content[mediaKey] as MediaType
    const schemaPointer = `${pointer}/content/${escapePointer(mediaKey)}/schema`
    // What a made-up upstream answer holds is the test's, passed on as it came; the BFF's own problems are the BFF's.
    if (answer.upstreamMadeUp === true && media !== 'application/problem+json') return []
    if (media === 'text/event-stream') return this.#streamViolations(`${at} ${media}`, answer.body, mediaType, schemaPointer)
    if (media === 'application/json' || media.endsWith('+json')) {
      const parsed = parseJson(answer.body)
      if (!parsed.ok) return [`${at} ${media}: the body is not JSON: ${snippet(answer.body)}`]
      return this.#schemaViolations(`${at} ${media}`, schemaPointer, parsed.value, 'body')
    }
    return []
  }

  /** Each complete event's `data`, checked against its name's schema (`message` for an event without a name). */
  #streamViolations (at: string, text: string, mediaType: MediaType, schemaPointer: string): string[] {
    const named = mediaType['x-sse-events']
    const problems: string[] = []
    const { events } = takeEvents(text.replace(/\r\n?/g, '\n'))
    events.forEach((event, index) => {
      const name = event.event ?? 'message'
      if (named !== undefined && named[name] === undefined) {
        problems.push(`${at}: event ${index} is named ${name}, which x-sse-events does not list (${Object.keys(named).join(', ')})`)
        return
      }
      const pointer = named === undefined ? schemaPointer : `${schemaPointer.replace(/\/schema$/, '')}/x-sse-events/${escapePointer(name)}`
      problems.push(...this.#schemaViolations(`${at} event ${index} (${name})`, pointer, event.data, 'data'))
    })
    return problems
  }

  #validator (pointer: string): ValidateFunction {
    let validate = this.#validators.get(pointer)
    if (validate === undefined) {
      validate = this.#ajv.compile({ $ref: `${DOCUMENT_ID}${pointer}` })
      this.#validators.set(pointer, validate)
    }
    return validate
  }

  #schemaViolations (at: string, pointer: string, value: unknown, name: string): string[] {
    const validate = this.#validator(pointer)
    if (validate(value)) return []
    return [`${at}: ${this.#ajv.errorsText(validate.errors, { dataVar: name, separator: '; ' })}\n  ${name}: ${snippet(JSON.stringify(value))}`]
  }
}

/**
 * Wraps `app.inject` so that every answer from a documented route is checked against the app's
 * own document; a mismatch rejects the `inject` call with the violations. Call before `ready()`
 * (it adds a hook that notes which route answered each request).
 */
export function checkAnswersAgainstDocument (app: FastifyInstance, sim?: Simulator): void {
  const madeUp = sim === undefined ? () => 0 : countMadeUpAnswers(sim)
  const routes = new WeakMap<IncomingMessage, string>()
  app.addHook('onSend', async (request, _reply, payload) => {
    if (request.routeOptions.url !== undefined) routes.set(request.raw, request.routeOptions.url)
    return payload
  })
  let checker: ContractChecker | undefined
  // Made while the app gets ready, so that no test's timing pays for it.
  app.addHook('onReady', async () => { checker = checkerFor(app.swagger() as unknown as OpenApiDocument) })
  const inject = app.inject.bind(app)
  const checked = async (options: InjectOptions | string): Promise<LightMyRequestResponse> => {
    const before = madeUp()
    const response = await inject(options)
    const route = routes.get(response.raw.req)
    if (route === undefined) return response
    checker ??= checkerFor(app.swagger() as unknown as OpenApiDocument)
    const violations = checker.violations({
      method: response.raw.req.method ?? 'GET',
      route,
      status: response.statusCode,
      contentType: response.headers['content-type']?.toString(),
      body: response.body,
      upstreamMadeUp: madeUp() > before
    })
    if (violations.length > 0) throw new ContractViolation(violations)
    return response
  }
  unchecked.set(app, inject)
  // Only the promise form (options or a URL) is checked; the chain and callback forms pass as they are.
  app.inject = ((options?: InjectOptions | string, callback?: unknown) => {
    if (options === undefined || callback !== undefined) return (inject as (...args: unknown[]) => unknown)(options, callback)
    return checked(options)
  }) as FastifyInstance['inject']
}

/**
 * How many answers the simulator has made up so far (an injected status: the test's own body,
 * or its default one): counted as the simulator takes its injections.
 */
function countMadeUpAnswers (sim: Simulator): () => number {
  let count = 0
  const take = sim.state.takeInjection.bind(sim.state)
  sim.state.takeInjection = (...args: Parameters<typeof take>): Injection | undefined => {
    const injection = take(...args)
    if (injection?.status !== undefined || injection?.mode === 'echo' || injection?.mode === 'garbage') count += 1
    return injection
  }
  return () => count
}

/** Checkers by document: every app of a test file has the same document but for the cookie's name, compiled once. */
const checkers = new Map<string, ContractChecker>()

function checkerFor (document: OpenApiDocument): ContractChecker {
  const key = JSON.stringify(document)
  let checker = checkers.get(key)
  if (checker === undefined) {
    checker = new ContractChecker(document).compileAll()
    checkers.set(key, checker)
  }
  return checker
}

const unchecked = new WeakMap<FastifyInstance, (options: InjectOptions | string) => Promise<LightMyRequestResponse>>()

/** `app.inject` without the check: for a test that makes an upstream answer what Ejento's contract does not allow, on purpose. */
export async function injectUnchecked (app: FastifyInstance, options: InjectOptions | string): Promise<LightMyRequestResponse> {
  return await (unchecked.get(app) ?? app.inject.bind(app))(options)
}

export class ContractViolation extends Error {
  constructor (violations: string[]) {
    super(`The answer does not match the OpenAPI document (/docs/json):\n${violations.map((violation) => `- ${violation}`).join('\n')}`)
    this.name = 'ContractViolation'
  }
}

function escapePointer (segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1')
}

function parseJson (text: string): { ok: true, value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

function snippet (text: string): string {
  return text.length > 400 ? `${text.slice(0, 400)}…` : text
}
