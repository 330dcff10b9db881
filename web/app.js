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
  newThread: $('new-thread')
}

const state = {
  agents: [],
  /** The chat thread of the conversation on screen, created on first use. */
  threadId: undefined,
  /** Aborts the answer being streamed (log-out, new conversation). */
  streaming: undefined
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
