// Example chat page for the Ejento BFF. It calls only the BFF's own routes, with the
// session cookie (HttpOnly: this script cannot read it); no token ever reaches this page.

const $ = (id) => document.getElementById(id)

const view = {
  loading: $('loading'),
  signedOut: $('signed-out'),
  signedIn: $('signed-in'),
  account: $('account'),
  who: $('who'),
  error: $('error'),
  notice: $('notice'),
  agent: $('agent'),
  agentId: $('agent-id'),
  agentDescription: $('agent-description'),
  thread: $('thread'),
  messages: $('messages'),
  question: $('question'),
  send: $('send'),
  newThread: $('new-thread'),
  sessions: $('sessions'),
  sessionsToggle: $('sessions-toggle'),
  sessionsRefresh: $('sessions-refresh'),
  sessionsStatus: $('sessions-status'),
  sessionsList: $('sessions-list'),
  revokeOthers: $('sessions-revoke-others')
}

const state = {
  agents: [],
  /** The chat thread of the conversation on screen, created on first use. */
  threadId: undefined,
  /** Aborts the answer being streamed (log-out, new conversation). */
  streaming: undefined,
  /** Counts the loads of the sessions list: only the latest one may show its answer. */
  sessionsLoad: 0
}

/** An error the BFF (problem+json `detail`) or Ejento (`message`, FastAPI `detail`) explained. */
class ApiError extends Error {
  constructor (status, message, code) {
    super(message)
    this.status = status
    this.code = code
  }
}

async function api (path, { method = 'GET', body, accept = 'application/json', signal } = {}) {
  const headers = { accept }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'include',
    signal
  })
  if (!response.ok) throw await errorFrom(response)
  return response
}

async function json (path, options) {
  const response = await api(path, options)
  return response.status === 204 ? undefined : await response.json()
}

async function errorFrom (response) {
  let body
  try {
    body = await response.json()
  } catch {
    body = undefined
  }
  let message = `The server answered ${response.status} ${response.statusText}`.trim()
  if (typeof body?.detail === 'string') {
    message = body.detail
    const issues = Array.isArray(body.errors) ? body.errors : []
    if (issues.length > 0) message += ' ' + issues.map((issue) => `${issue.path.replace(/^\//, '')} ${issue.message}`).join('; ')
  } else if (Array.isArray(body?.detail)) {
    message = body.detail.map((issue) => issue.msg).join('; ')
  } else if (typeof body?.message === 'string') {
    message = body.message
  }
  return new ApiError(response.status, message, body?.code)
}

function showError (error) {
  view.notice.hidden = true
  view.error.textContent = error instanceof Error ? error.message : String(error)
  view.error.hidden = false
}

function showNotice (text) {
  view.error.hidden = true
  view.notice.textContent = text
  view.notice.hidden = false
}

function clearMessages () {
  view.error.hidden = true
  view.notice.hidden = true
}

/** Runs a user action; a lost session shows the log-in form, anything else an error. */
async function act (action) {
  clearMessages()
  try {
    await action()
  } catch (error) {
    if (error.name === 'AbortError') return
    if (error instanceof ApiError && error.status === 401 && !view.signedIn.hidden) {
      showSignedOut()
      showError(`${error.message} Please log in again.`)
      return
    }
    showError(error)
  }
}

// --- Session ----------------------------------------------------------------------------

function showSignedOut () {
  stopStreaming()
  state.agents = []
  state.threadId = undefined
  view.messages.replaceChildren()
  view.loading.hidden = true
  view.signedIn.hidden = true
  view.account.hidden = true
  view.who.textContent = ''
  closeSessions()
  view.signedOut.hidden = false
  document.body.dataset.session = 'signed-out'
}

async function showSignedIn (user) {
  view.who.textContent = `Signed in as ${user.full_name ? `${user.full_name} (${user.email})` : user.email}`
  view.loading.hidden = true
  view.signedOut.hidden = true
  view.account.hidden = false
  view.signedIn.hidden = false
  document.body.dataset.session = 'signed-in'
  await loadAgents()
}

async function loadSession () {
  const session = await json('/auth/session')
  if (session.authenticated) await showSignedIn(session.user)
  else showSignedOut()
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.currentTarget
  act(async () => {
    const result = await json('/auth/login', {
      method: 'POST',
      body: { email: form.email.value.trim(), password: form.password.value }
    })
    form.reset()
    await showSignedIn(result.user)
  })
})

$('signup-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.currentTarget
  act(async () => {
    const email = form.email.value.trim()
    const fullName = form.full_name.value.trim()
    await json('/auth/signup', {
      method: 'POST',
      body: { email, password: form.password.value, ...(fullName === '' ? {} : { full_name: fullName }) }
    })
    form.reset()
    $('login-email').value = email
    $('login-password').focus()
    showNotice(`Account created for ${email}. Log in with your new password.`)
  })
})

$('logout').addEventListener('click', () => {
  act(async () => {
    stopStreaming()
    await api('/auth/logout', { method: 'POST' })
    showSignedOut()
    showNotice('You are logged out.')
  })
})

// --- Your sessions ----------------------------------------------------------------------

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const RELATIVE_TIME = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })

/** "just now", "5 minutes ago", "2 days ago": the BFF knows a session's last use to about the minute. */
function timeAgo (date) {
  const minutes = Math.round((Date.now() - date.getTime()) / 60_000)
  if (minutes < 1) return 'just now'
  if (minutes < 60) return RELATIVE_TIME.format(-minutes, 'minute')
  const hours = Math.round(minutes / 60)
  if (hours < 24) return RELATIVE_TIME.format(-hours, 'hour')
  return RELATIVE_TIME.format(-Math.round(hours / 24), 'day')
}

/** A <time> showing `iso` as `format` gives it, its exact moment in a tooltip; "an unknown time" when unreadable. */
function timeElement (iso, format) {
  const date = new Date(iso)
  if (typeof iso !== 'string' || Number.isNaN(date.getTime())) return document.createTextNode('an unknown time')
  const element = document.createElement('time')
  element.dateTime = iso
  element.title = DATE_TIME.format(date)
  element.textContent = format(date)
  return element
}

function sessionItem (session) {
  const item = document.createElement('li')
  item.className = 'session'
  item.dataset.current = String(session.current === true)

  const about = document.createElement('div')
  const device = document.createElement('span')
  device.className = 'device'
  device.textContent = session.device
  about.append(device)
  if (session.current === true) {
    const mark = document.createElement('span')
    mark.className = 'badge'
    mark.textContent = 'This device'
    about.append(' ', mark)
  }
  const created = timeElement(session.createdAt, (date) => DATE_TIME.format(date))
  const meta = document.createElement('span')
  meta.className = 'meta'
  meta.append(`${session.address} · signed in `, created, ' · active ', timeElement(session.lastSeenAt, timeAgo))
  about.append(meta)
  item.append(about)

  // This device signs out with "Log out"; the others each get their own button.
  if (session.current !== true) {
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'secondary'
    button.textContent = 'Sign out'
    button.setAttribute('aria-label', `Sign out ${session.device}, signed in ${created.textContent}`)
    button.addEventListener('click', () => act(() => changeSessions(button, async () => {
      await api(`/auth/sessions/${encodeURIComponent(session.handle)}`, { method: 'DELETE' })
      showNotice(`Signed out ${session.device} (signed in ${created.textContent}).`)
    })))
    item.append(button)
  }
  return item
}

/** Shows the user's sessions: this one first, then the others as the BFF lists them (latest activity first). */
async function loadSessions () {
  const load = ++state.sessionsLoad
  if (view.sessionsList.childElementCount === 0) view.sessionsStatus.textContent = 'Loading your sessions…'
  view.sessionsList.setAttribute('aria-busy', 'true')
  try {
    const answer = await json('/auth/sessions')
    // A later load, or a log-out, came first: this answer is out of date.
    if (load !== state.sessionsLoad) return
    if (!Array.isArray(answer?.sessions)) throw new Error('The server answered a list of sessions this page cannot read.')
    const here = answer.sessions.filter((session) => session.current === true)
    const others = answer.sessions.filter((session) => session.current !== true)
    view.sessionsList.replaceChildren(...[...here, ...others].map(sessionItem))
    view.sessionsStatus.textContent = others.length === 0
      ? 'Signed in only here.'
      : `Signed in here and in ${others.length === 1 ? 'one other place' : `${others.length} other places`}.`
    view.revokeOthers.disabled = others.length === 0
  } catch (error) {
    if (load === state.sessionsLoad) view.sessionsStatus.textContent = 'Your sessions could not be listed.'
    throw error
  } finally {
    if (load === state.sessionsLoad) view.sessionsList.setAttribute('aria-busy', 'false')
  }
}

/** Ends sessions through `change`, then lists them again (after a refusal too: the list was stale). */
async function changeSessions (button, change) {
  button.disabled = true
  try {
    await change()
  } catch (error) {
    button.disabled = false
    // A lost session shows the log-in form instead; anything else leaves the panel up to date.
    if (error instanceof ApiError && error.status !== 401) await loadSessions().catch(() => {})
    throw error
  }
  await loadSessions()
}

function openSessions () {
  view.sessions.hidden = false
  view.sessionsToggle.setAttribute('aria-expanded', 'true')
  act(loadSessions)
}

function closeSessions () {
  state.sessionsLoad++
  view.sessions.hidden = true
  view.sessionsToggle.setAttribute('aria-expanded', 'false')
  view.sessionsList.replaceChildren()
  view.sessionsStatus.textContent = ''
  view.revokeOthers.disabled = true
}

view.sessionsToggle.addEventListener('click', () => {
  if (view.sessions.hidden) openSessions()
  else closeSessions()
})
view.sessionsRefresh.addEventListener('click', () => act(loadSessions))
view.revokeOthers.addEventListener('click', () => {
  act(() => changeSessions(view.revokeOthers, async () => {
    await api('/auth/sessions', { method: 'DELETE' })
    showNotice('Signed out everywhere else. You stay signed in here.')
  }))
})

// --- Agents and threads -----------------------------------------------------------------

/**
 * The agents to pick from. Listing agents is not among the calls every Ejento offers: when the
 * list cannot be had (or is empty), the page asks for an agent id instead.
 */
async function loadAgents () {
  let listed = []
  try {
    const answer = await json('/proxy/ejento/api/agents')
    listed = Array.isArray(answer?.data) ? answer.data.filter((agent) => agent?.id !== undefined) : []
  } catch (error) {
    // Only "no such call here" means a missing list; an outage or a lost session is shown as such.
    if (!(error instanceof ApiError) || ![404, 405, 501].includes(error.status)) throw error
  }
  state.agents = listed
  view.agent.replaceChildren(...state.agents.map((agent) => {
    const option = document.createElement('option')
    option.value = String(agent.id)
    option.textContent = agent.name ?? `Agent ${agent.id}`
    return option
  }))
  view.agent.hidden = state.agents.length === 0
  view.agentId.hidden = state.agents.length > 0
  startConversation()
}

const AGENT_ID = /^[A-Za-z0-9_-]{1,64}$/

function currentAgent () {
  if (state.agents.length === 0) {
    const id = view.agentId.value.trim()
    return AGENT_ID.test(id) ? { id, description: `Agent ${id}.` } : undefined
  }
  return state.agents.find((agent) => String(agent.id) === view.agent.value)
}

/** A fresh conversation with the selected agent; its thread is created with the first question. */
function startConversation () {
  stopStreaming()
  state.threadId = undefined
  view.messages.replaceChildren()
  const agent = currentAgent()
  view.agentDescription.textContent = agent?.description ??
    (state.agents.length === 0 ? 'This Ejento does not list its agents here: type the id of an agent.' : 'No agent is available.')
  view.thread.textContent = ''
  view.send.disabled = agent === undefined
}

async function createThread (agentId) {
  const answer = await json(`/api/agents/${encodeURIComponent(agentId)}/chat-threads`, { method: 'POST', body: {} })
  state.threadId = answer.data.id
  view.thread.textContent = `Conversation #${state.threadId}`
}

view.agent.addEventListener('change', () => startConversation())
view.agentId.addEventListener('input', () => startConversation())
view.newThread.addEventListener('click', () => {
  clearMessages()
  startConversation()
  const agent = currentAgent()
  if (agent !== undefined) act(() => createThread(agent.id))
})

// --- Asking, with the answer streamed -----------------------------------------------------

function addMessage (role, text) {
  const item = document.createElement('li')
  item.className = `message ${role}`
  const who = document.createElement('span')
  who.className = 'role'
  who.textContent = role === 'question' ? 'You' : (currentAgent()?.name ?? 'Agent')
  const body = document.createElement('p')
  body.className = 'text'
  body.textContent = text
  item.append(who, body)
  view.messages.append(item)
  item.scrollIntoView({ block: 'end' })
  return item
}

function stopStreaming () {
  state.streaming?.abort()
  state.streaming = undefined
}

$('ask-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const question = view.question.value.trim()
  const agent = currentAgent()
  if (question === '' || agent === undefined || state.streaming !== undefined) return
  act(async () => {
    if (state.threadId === undefined) await createThread(agent.id)
    view.question.value = ''
    addMessage('question', question)
    const answer = addMessage('answer', '')
    await streamAnswer(agent.id, question, answer)
  })
})

async function streamAnswer (agentId, question, item) {
  const text = item.querySelector('.text')
  item.dataset.state = 'streaming'
  item.setAttribute('aria-busy', 'true')
  const controller = new AbortController()
  state.streaming = controller
  view.send.disabled = true
  let finished = false
  try {
    const response = await api(`/api/agents/${encodeURIComponent(agentId)}/responses`, {
      method: 'POST',
      accept: 'text/event-stream',
      body: { user_query: question, chat_thread_id: state.threadId },
      signal: controller.signal
    })
    for await (const { event, data } of serverSentEvents(response.body)) {
      const payload = parseJson(data)
      if (event === 'token') {
        text.textContent += payload?.delta ?? ''
        item.scrollIntoView({ block: 'end' })
      } else if (event === 'end') {
        const final = payload?.output?.answer
        if (typeof final === 'string') text.textContent = final
        finished = true
      } else if (event === 'error') {
        throw new Error(payload?.message ?? payload?.detail ?? 'The agent failed to answer.')
      }
    }
    if (!finished) throw new Error('The answer stopped before it was complete. Please ask again.')
    item.dataset.state = 'done'
  } catch (error) {
    item.dataset.state = 'error'
    if (text.textContent === '') item.remove()
    throw error
  } finally {
    item.removeAttribute('aria-busy')
    if (state.streaming === controller) state.streaming = undefined
    view.send.disabled = currentAgent() === undefined
  }
}

function parseJson (text) {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * Server-sent events from a fetch body (EventSource cannot POST): yields `{event, data}`
 * for each event as soon as its blank line arrives.
 */
async function * serverSentEvents (body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value.replace(/\r\n?/g, '\n')
      let end
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const parsed = parseEvent(block)
        if (parsed !== undefined) yield parsed
      }
    }
  } finally {
    // Stops the download when the reader leaves early (an error event, an abort).
    reader.cancel().catch(() => {})
  }
}

function parseEvent (block) {
  let event = 'message'
  const data = []
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') event = value
    else if (field === 'data') data.push(value)
  }
  return data.length === 0 ? undefined : { event, data: data.join('\n') }
}

act(loadSession)
