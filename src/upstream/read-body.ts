import type { Readable } from 'node:stream'

export interface BodyHead {
  /** The chunks read, `limit` bytes or a little more. */
  chunks: Buffer[]
  /** When the body went past `limit`: the rest of it, unread. */
  rest: AsyncIterator<unknown> | undefined
}

/**
 * Reads a body until its end or until it passes `limit` bytes, whichever comes first.
 * Callers decide what an overlong body means: refuse it, cut it, or stream it on.
 */
export async function readUpTo (body: Readable, limit: number): Promise<BodyHead> {
  const source = body[Symbol.asyncIterator]()
  const chunks: Buffer[] = []
  let size = 0
  for (;;) {
    const { value, done } = await source.next()
    if (done === true) return { chunks, rest: undefined }
    chunks.push(value as Buffer)
    size += (value as Buffer).length
    if (size > limit) return { chunks, rest: source }
  }
}

/** The chunks already read, then the rest of the body, as one stream source. */
export async function * resumed ({ chunks, rest }: BodyHead): AsyncGenerator<Buffer> {
  yield * chunks
  if (rest === undefined) return
  for (;;) {
    const { value, done } = await rest.next()
    if (done === true) return
    yield value as Buffer
  }
}

/**
 * Lets go of a body nobody will read. undici's body emits `RequestAbortedError` when it is
 * destroyed before its end; with no listener that 'error' event would end the process, so
 * one is added first.
 */
export function discard (body: Readable): void {
  body.on('error', ignore)
  body.destroy()
}

function ignore (): void {}
