import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../errors.js'

export interface JsonBodyOptions {
  /** Deepest nesting of objects and arrays a JSON body may have. */
  maxDepth: number
}

/**
 * Fastify's JSON parser, with two changes a BFF needs:
 * - an empty body sent as `application/json` (fetch() and some HTTP clients do that on a bare
 *   POST) reads as no body, so a log-out or a refresh never fails on it; a route that needs a
 *   body still refuses it by its schema;
 * - nesting deeper than `maxDepth` is 400 `json_too_deep` before parsing: a few kilobytes of
 *   `[[[[...` parse fine but overflow the stack when the body is serialised again for upstream.
 */
export default fp(async function jsonBody (app: FastifyInstance, options: JsonBodyOptions) {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string
    if (text.trim() === '') {
      done(null, undefined)
      return
    }
    if (nestingExceeds(text, options.maxDepth)) {
      done(new HttpProblem(400, 'json_too_deep', `The JSON body is nested deeper than ${options.maxDepth} levels.`), undefined)
      return
    }
    parse(request, text, done)
  })
}, { name: 'json-body' })

/** True when brackets outside strings nest deeper than `max`: one pass, no allocation. */
export function nestingExceeds (text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (inString) {
      if (code === 0x5c) index++ // a backslash: skip the escaped character
      else if (code === 0x22) inString = false
    } else if (code === 0x22) {
      inString = true
    } else if (code === 0x7b || code === 0x5b) {
      if (++depth > max) return true
    } else if (code === 0x7d || code === 0x5d) {
      depth--
    }
  }
  return false
}
