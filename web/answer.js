// One answer on screen, filled from either stream format as the BFF client types its events:
// the access guide's named events (`start`, `token`, `end`, `error`) or hosted Ejento's (v2)
// `data:` lines switched on `step`.

/** An `error` the stream carried: the agent (or the BFF on its behalf) gave up on this answer. */
export class StreamError extends Error {}

/**
 * Applies one event of the client's `ask()` (typed: `format` and `type` say which) to `answer`
 * (an AnswerView). Answers what it learnt about the conversation: `{threadId, title}` or undefined.
 */
export function applyEvent (answer, event) {
  switch (event.type) {
    case 'start':
      return threadOf(event.data)
    case 'token':
    case 'assistant_stream':
      answer.appendText(event.data.delta)
      return undefined
    case 'tools_stream':
      answer.appendThought(event.data.delta)
      return undefined
    case 'end':
      return answer.finish(event.data.output)
    case 'answer':
      // An answer all at once (JSON `{data: output}`): the same output as a stream's end.
      return answer.finish(event.data?.data)
    case 'error':
      throw new StreamError(messageOf(event.data))
    case 'reflection_end':
    case 'reflection_skip':
    case 'status':
      // What the agent is doing now (v2), whatever step Ejento adds.
      answer.setStatus(event.data.message ?? event.data.step.replaceAll('_', ' '))
      return undefined
    default:
      // An event of neither format: nothing to show.
      return undefined
  }
}

function messageOf (payload) {
  const message = payload.message ?? payload.detail
  return typeof message === 'string' && message !== '' ? message : 'The agent failed to answer.'
}

/** The conversation an answer belongs to: v2 `thread_id`, the guide's `chat_thread_id`. */
export function threadOf (output) {
  const threadId = output?.thread_id ?? output?.chat_thread_id
  if (typeof threadId !== 'number' && typeof threadId !== 'string') return undefined
  const title = typeof output.chat_thread_name === 'string' ? output.chat_thread_name : undefined
  return { threadId, title }
}

/** Only web links become links: a reference is Ejento's data, and `javascript:` is not a place. */
function safeUrl (url) {
  try {
    const parsed = new URL(url)
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : undefined
  } catch {
    return undefined
  }
}

function element (tag, className, text) {
  const node = document.createElement(tag)
  if (className !== undefined) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/**
 * The DOM of one answer: `.text` (the answer), a collapsible "Thought process", a status line,
 * then, once finished, numbered references, follow-up questions and thumbs up/down.
 */
export class AnswerView {
  /**
   * @param item the answer's list item, holding `.text`
   * @param actions `{ask(question), vote(responseId, voteType)}`; `vote` answers whether it was recorded
   */
  constructor (item, actions) {
    this.item = item
    this.actions = actions
    this.text = item.querySelector('.text')
  }

  appendText (delta) {
    if (typeof delta !== 'string') return
    this.text.textContent += delta
    this.setStatus('')
  }

  appendThought (delta) {
    if (typeof delta !== 'string') return
    if (this.thoughts === undefined) {
      const details = element('details', 'thoughts')
      details.append(element('summary', undefined, 'Thought process'))
      this.thoughts = element('pre', 'thought-text')
      details.append(this.thoughts)
      this.item.insertBefore(details, this.text)
    }
    this.thoughts.textContent += delta
  }

  setStatus (message) {
    if (this.status === undefined) {
      if (message === '') return
      this.status = element('p', 'status')
      this.item.insertBefore(this.status, this.text)
    }
    this.status.textContent = message
    this.status.hidden = message === ''
  }

  /** The final output of either format; answers the conversation it names. */
  finish (output) {
    this.finished = true
    this.setStatus('')
    if (typeof output?.answer === 'string' && output.answer !== '') this.text.textContent = output.answer
    this.showReferences(output?.references)
    this.showFollowUps(output?.followup_questions)
    const responseId = output?.agent_response_id
    if (typeof responseId === 'number' || typeof responseId === 'string') this.showVotes(responseId, undefined)
    return threadOf(output)
  }

  showReferences (references) {
    if (!Array.isArray(references) || references.length === 0) return
    const sorted = references
      .filter((reference) => typeof reference?.url === 'string')
      .map((reference, index) => ({ ...reference, number: Number.isInteger(reference.number) ? reference.number : index + 1 }))
      .sort((a, b) => (a.order ?? a.number) - (b.order ?? b.number))
    if (sorted.length === 0) return
    const list = element('ol', 'references')
    list.setAttribute('aria-label', 'References')
    for (const reference of sorted) {
      const entry = element('li')
      entry.value = reference.number
      const label = typeof reference.title === 'string' && reference.title !== '' ? reference.title : reference.url
      const href = safeUrl(reference.url)
      if (href === undefined) {
        entry.textContent = label
      } else {
        const link = element('a', undefined, label)
        link.href = href
        link.target = '_blank'
        link.rel = 'noopener noreferrer'
        entry.append(link)
      }
      list.append(entry)
    }
    this.item.append(element('p', 'section-title', 'References'), list)
  }

  showFollowUps (questions) {
    const asked = Array.isArray(questions) ? questions.filter((question) => typeof question === 'string' && question.trim() !== '') : []
    if (asked.length === 0) return
    const group = element('div', 'followups')
    group.setAttribute('role', 'group')
    group.setAttribute('aria-label', 'Follow-up questions')
    for (const question of asked) {
      const button = element('button', 'secondary', question)
      button.type = 'button'
      button.addEventListener('click', () => this.actions.ask(question))
      group.append(button)
    }
    this.item.append(group)
  }

  /** Thumbs up ("Helpful") and down ("Not helpful"), `vote` pressed when the user already chose. */
  showVotes (responseId, vote) {
    this.item.dataset.responseId = String(responseId)
    const group = element('div', 'votes')
    group.setAttribute('role', 'group')
    group.setAttribute('aria-label', 'Rate this answer')
    const buttons = [['upvote', '▲', 'Helpful'], ['downvote', '▼', 'Not helpful']].map(([voteType, arrow, name]) => {
      const button = element('button', 'vote')
      const symbol = element('span', undefined, arrow)
      symbol.setAttribute('aria-hidden', 'true')
      button.append(symbol, ` ${name}`)
      button.type = 'button'
      button.dataset.vote = voteType
      button.setAttribute('aria-pressed', String(vote === voteType))
      return button
    })
    for (const button of buttons) {
      button.addEventListener('click', async () => {
        if (button.getAttribute('aria-pressed') === 'true') return
        for (const other of buttons) other.disabled = true
        try {
          if (await this.actions.vote(responseId, button.dataset.vote)) {
            for (const other of buttons) other.setAttribute('aria-pressed', String(other === button))
          }
        } finally {
          for (const other of buttons) other.disabled = false
        }
      })
    }
    group.append(...buttons)
    this.item.append(group)
  }

  /** Follow-ups are for the latest answer only: asking anything else makes them stale. */
  dropFollowUps () {
    this.item.querySelector('.followups')?.remove()
  }
}
