const LF = 0x0a
const CR = 0x0d

/**
 * Counts the events of an event stream as its bytes pass, across chunk boundaries: an event ends
 * at a blank line, that is a line end (LF, CR or CRLF) right after another. One pass, no copy.
 */
export class EventCounter {
  events = 0
  /** The last byte ended a line (so a line end now ends an event, unless the line held nothing yet). */
  #atLineStart = false
  /** The last byte was a CR: an LF now completes that line end rather than making another. */
  #afterCr = false
  /** The event under way has some content (a blank line before any just separates nothing). */
  #inEvent = false

  /** Counts `chunk`; answers how many events it ended. */
  count (chunk: Buffer): number {
    const before = this.events
    for (const byte of chunk) {
      if (byte === LF && this.#afterCr) {
        this.#afterCr = false
        continue
      }
      this.#afterCr = byte === CR
      if (byte === LF || byte === CR) {
        if (this.#atLineStart && this.#inEvent) {
          this.events++
          this.#inEvent = false
        }
        this.#atLineStart = true
      } else {
        this.#atLineStart = false
        this.#inEvent = true
      }
    }
    return this.events - before
  }
}
