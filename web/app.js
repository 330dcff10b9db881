// Example chat page for the Ejento BFF. It calls only the BFF's own routes, through the BFF's
// typed client (client/, bundled into vendor/ by `npm run client:build`; `npm run demo` makes
// it), with the session cookie (HttpOnly: this script cannot read it); no token ever reaches
// this page.

import { AnswerView, applyEvent } from './answer.js'
import { BffError, createClient } from './vendor/ejento-bff-client.js'

/** The BFF that served this page (same origin); answers that are not 2xx throw BffError. */
const bff = createClient()

/** "This BFF's Ejento has no such call" (guide): a feature to leave out quietly, not an error to show. */
const isNotSupported = (error) => error instanceof BffError && error.status === 501

const $ = (id) => document.getElementById(id)

const view = {
  loading: $('loading'),
  signedOut: $('signed-out'),
  signedIn: $('signed-in'),
  account: $('account'),
  who: $('who'),
  error: $('error'),
  notice: $('notice'),
  signupError: $('signup-error'),
  demoHint: $('demo-hint'),
  loginForm: $('login-form'),
  sendCode: $('send-code'),
  codeForm: $('code-form'),
  code: $('login-code'),
  sso: $('sso'),
  agent: $('agent'),
  agentId: $('agent-id'),
  agentDescription: $('agent-description'),
  thread: $('thread'),
  threads: $('threads'),
  threadsStatus: $('threads-status'),
  threadList: $('thread-list'),
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
  /** The BFF's path profile (`guide` or `v2`) as /auth/methods names it; undefined: guide's paths. */
  profile: undefined,
  agents: [],
  /** The chat thread of the conversation on screen; undefined until its first answer names it. */
  threadId: undefined,
  /** The conversations listed for the agent (v2; the guide's BFF answers 501 and none are shown). */
  threads: [],
  threadsSupported: true,
  /** The address a log-in code was sent to, for its check. */
  codeEmail: undefined,
  /** Aborts the answer being streamed (log-out, new conversation). */
  streaming: undefined,
  /** Count the loads of each list: only the latest one may show its answer. */
  sessionsLoad: 0,
  threadsLoad: 0,
  threadOpen: 0
}

/** Shows an error in `place`: the page's own line (above the cards), or a card's (the sign-up's). */
function showError (error, place = view.error) {
  view.notice.hidden = true
  place.textContent = error instanceof Error ? error.message : String(error)
  place.hidden = false
}

function showNotice (text) {
  view.error.hidden = true
  view.notice.textContent = text
  view.notice.hidden = false
}

function clearMessages () {
  view.error.hidden = true
  view.notice.hidden = true
  view.signupError.hidden = true
}

/**
 * Runs a user action; a lost session shows the log-in form, anything else an error (in
 * `errorPlace`, by default the page's error line). Answers whether the action succeeded.
 */
async function act (action, { errorPlace } = {}) {
  clearMessages()
  try {
    await action()
    return true
  } catch (error) {
    if (error.name === 'AbortError') return false
    if (error instanceof BffError && error.status === 401 && !view.signedIn.hidden) {
      showSignedOut()
      showError(`${error.message} Please log in again.`)
      return false
    }
    showError(error, errorPlace)
    return false
  }
}

// --- The conversation to come back to ------------------------------------------------------

// Only ids (the agent's, the thread's), never anything secret: the page holds no token at all.
const REMEMBERED = 'ejento-bff.conversation'

/**
 * Where Ejento keeps no history the page can ask for (the guide's: 501), the conversation on
 * screen is kept here for a reload: its ids and the text shown (questions and answers), never a
 * token. Hosted Ejento (v2) gives the conversation back itself.
 */
const TRANSCRIPT = 'ejento-bff.transcript'
/** Only the latest messages of a long conversation are kept (sessionStorage holds a few MiB). */
const TRANSCRIPT_MAX_CHARS = 200_000

function remember (agentId, threadId) {
  // Another conversation: the text kept of the last one is of no use any more.
  if (threadId === undefined) sessionStorage.removeItem(TRANSCRIPT)
  sessionStorage.setItem(REMEMBERED, JSON.stringify({ agentId: String(agentId), threadId: threadId === undefined ? undefined : String(threadId) }))
}

function remembered () {
  try {
    const saved = JSON.parse(sessionStorage.getItem(REMEMBERED) ?? 'null')
    return typeof saved?.agentId === 'string' ? saved : undefined
  } catch {
    return undefined
  }
}

function forget () {
  sessionStorage.removeItem(REMEMBERED)
  sessionStorage.removeItem(TRANSCRIPT)
}

function keepTranscript (agentId, threadId) {
  if (state.threadsSupported || threadId === undefined) return
  const messages = [...view.messages.querySelectorAll('.message')].map((item) => ({
    role: item.classList.contains('question') ? 'question' : 'answer',
    text: item.querySelector('.text')?.textContent ?? ''
  }))
  let chars = messages.reduce((sum, message) => sum + message.text.length, 0)
  while (chars > TRANSCRIPT_MAX_CHARS && messages.length > 0) chars -= messages.shift().text.length
  try {
    // The thread id as Ejento gave it (a number stays a number when it is sent back).
    sessionStorage.setItem(TRANSCRIPT, JSON.stringify({ agentId: String(agentId), threadId, messages }))
  } catch {
    // Storage full or off: a reload starts afresh, as before.
  }
}

/** The kept conversation `{threadId, messages}` of that agent and thread, or undefined. */
function keptTranscript (agentId, threadId) {
  try {
    const kept = JSON.parse(sessionStorage.getItem(TRANSCRIPT) ?? 'null')
    if (kept?.agentId !== String(agentId) || String(kept?.threadId) !== String(threadId) || !Array.isArray(kept.messages)) return undefined
    if (typeof kept.threadId !== 'number' && typeof kept.threadId !== 'string') return undefined
    const messages = kept.messages.filter((message) => (message?.role === 'question' || message?.role === 'answer') && typeof message.text === 'string')
    return { threadId: kept.threadId, messages }
  } catch {
    return undefined
  }
}

// --- Log-in methods -----------------------------------------------------------------------

const SSO_PROVIDER = /^[a-z0-9][a-z0-9-]{0,31}$/
const SSO_NAMES = { google: 'Google', microsoft: 'Microsoft', github: 'GitHub', okta: 'Okta' }

/** Why the BFF sent the browser back from an SSO or magic-link log-in (`?login_error=<code>`). */
const LOGIN_ERRORS = {
  sso_state_invalid: 'That log-in link has expired or was already used. Please log in again.',
  sso_tokens_invalid: 'Ejento did not confirm that log-in. Please try again.',
  sso_upstream_unavailable: 'Ejento could not be reached to finish that log-in. Please try again later.',
  sso_failed: 'That log-in did not work. Please try again.'
}

/** Takes `?login_error=` off the address (a reload must not show it again); answers its message. */
function takeLoginError () {
  const url = new URL(window.location.href)
  const code = url.searchParams.get('login_error')
  if (code === null) return undefined
  url.searchParams.delete('login_error')
  window.history.replaceState(window.history.state, '', `${url.pathname}${url.search}${url.hash}`)
  if (Object.hasOwn(LOGIN_ERRORS, code)) return LOGIN_ERRORS[code]
  return `Logging in did not work${/^[a-z0-9_]{1,64}$/.test(code) ? ` (${code})` : ''}. Please try again.`
}

/** Password log-in always; an e-mailed code and SSO buttons when this Ejento offers them. */
async function loadLoginMethods () {
  let methods
  try {
    methods = await bff.loginMethods()
  } catch {
    // Unknown: the password form works everywhere.
    methods = undefined
  }
  state.profile = methods?.profile
  // The demo's made-up account, only where it exists: never hinted at against a real Ejento.
  view.demoHint.hidden = methods?.demo !== true
  view.sendCode.hidden = methods?.passwordless !== true
  const providers = Array.isArray(methods?.sso) ? methods.sso.filter((provider) => typeof provider === 'string' && SSO_PROVIDER.test(provider)) : []
  view.sso.replaceChildren(...providers.map(ssoButton))
  view.sso.hidden = providers.length === 0
}

/** A plain navigation: the BFF sends the browser to the provider and takes the tokens back itself. */
function ssoButton (provider) {
  const button = document.createElement('button')
  button.type = 'button'
  button.className = 'secondary'
  button.textContent = `Continue with ${SSO_NAMES[provider] ?? provider[0].toUpperCase() + provider.slice(1)}`
  button.addEventListener('click', () => {
    window.location.assign(bff.ssoUrl(provider, { returnTo: '/' }))
  })
  return button
}

function resetCodeForm () {
  state.codeEmail = undefined
  view.codeForm.reset()
  view.codeForm.hidden = true
}

// --- Session ----------------------------------------------------------------------------

function showSignedOut () {
  stopStreaming()
  forget()
  state.agents = []
  state.threads = []
  state.threadId = undefined
  view.messages.replaceChildren()
  view.threadList.replaceChildren()
  view.threads.hidden = true
  view.loading.hidden = true
  view.signedIn.hidden = true
  view.account.hidden = true
  view.who.textContent = ''
  view.who.removeAttribute('title')
  closeSessions()
  resetCodeForm()
  view.signedOut.hidden = false
  document.body.dataset.session = 'signed-out'
}

async function showSignedIn (user) {
  const fullName = typeof user.full_name === 'string' ? user.full_name.trim() : ''
  view.who.textContent = `Signed in as ${fullName === '' ? user.email : fullName}`
  if (fullName === '') view.who.removeAttribute('title')
  else view.who.title = user.email
  view.loading.hidden = true
  view.signedOut.hidden = true
  view.account.hidden = false
  view.signedIn.hidden = false
  document.body.dataset.session = 'signed-in'
  await loadAgents()
}

async function loadSession () {
  const session = await bff.session()
  if (session.authenticated) await showSignedIn(session.user)
  else showSignedOut()
}

view.loginForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.currentTarget
  act(async () => {
    const result = await bff.login({ email: form.email.value.trim(), password: form.password.value })
    form.reset()
    await showSignedIn(result.user)
  })
})

view.sendCode.addEventListener('click', () => {
  const email = $('login-email')
  if (!email.reportValidity()) return
  act(async () => {
    const address = email.value.trim()
    await bff.startPasswordless({ email: address })
    state.codeEmail = address
    view.codeForm.hidden = false
    view.code.value = ''
    view.code.focus()
    // The BFF answers the same whether the address has an account or not; so does this.
    showNotice(`If ${address} has an account, a log-in code is on its way there.`)
  })
})

view.codeForm.addEventListener('submit', (event) => {
  event.preventDefault()
  act(async () => {
    try {
      const result = await bff.verifyPasswordless({ code: view.code.value.trim(), ...(state.codeEmail === undefined ? {} : { email: state.codeEmail }) })
      view.loginForm.reset()
      resetCodeForm()
      await showSignedIn(result.user)
    } catch (error) {
      // No code pending any more (expired, too many tries): ask for a new one.
      if (error instanceof BffError && error.code === 'passwordless_not_started') resetCodeForm()
      throw error
    }
  })
})

$('signup-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.currentTarget
  act(async () => {
    const email = form.email.value.trim()
    const fullName = form.full_name.value.trim()
    await bff.signup({ email, password: form.password.value, ...(fullName === '' ? {} : { full_name: fullName }) })
    form.reset()
    $('login-email').value = email
    $('login-password').focus()
    showNotice(`Account created for ${email}. Log in with your new password.`)
  }, { errorPlace: view.signupError })
})

$('logout').addEventListener('click', () => {
  act(async () => {
    stopStreaming()
    await bff.logout()
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
      await bff.endSession(session.handle)
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
    const answer = await bff.sessions()
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
    if (error instanceof BffError && error.status !== 401) await loadSessions().catch(() => {})
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
    await bff.endOtherSessions()
    showNotice('Signed out everywhere else. You stay signed in here.')
  }))
})

// --- Agents -------------------------------------------------------------------------------

/**
 * The agents to pick from, through the passthrough at the profile's path. Listing agents is
 * not among the calls every Ejento offers: when the list cannot be had (or is empty), the
 * page asks for an agent id instead.
 */
async function loadAgents () {
  let listed = []
  try {
    const answer = await bff.proxy('ejento', state.profile === 'v2' ? '/api/v2/agents' : '/api/agents')
    listed = Array.isArray(answer?.data) ? answer.data.filter((agent) => agent?.id !== undefined) : []
  } catch (error) {
    // Only "no such call here" means a missing list; an outage or a lost session is shown as such.
    if (!(error instanceof BffError) || ![404, 405, 501].includes(error.status)) throw error
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

  // Back where this tab was: the same agent, and the conversation last opened.
  const saved = remembered()
  if (saved !== undefined) {
    if (state.agents.length === 0) view.agentId.value = saved.agentId
    else if (state.agents.some((agent) => String(agent.id) === saved.agentId)) view.agent.value = saved.agentId
  }
  startConversation()
  await loadThreads()
  const agent = currentAgent()
  if (saved?.threadId === undefined || String(agent?.id) !== saved.agentId) return
  // The thread's id as listed (a number, where Ejento's are): it is sent back when asking on.
  const thread = state.threads.find((listed) => String(listed.id) === saved.threadId)
  if (thread !== undefined) await openThread(thread.id)
  else if (!state.threadsSupported) showTranscript(saved.agentId, saved.threadId)
}

/** The conversation's text as kept before the reload (guide), to ask on in its thread. */
function showTranscript (agentId, threadId) {
  const kept = keptTranscript(agentId, threadId)
  if (kept === undefined) return
  for (const message of kept.messages) addMessage(message.role, message.text).dataset.state = 'done'
  state.threadId = kept.threadId
  showThread()
}

const AGENT_ID = /^[A-Za-z0-9_-]{1,64}$/

function currentAgent () {
  if (state.agents.length === 0) {
    const id = view.agentId.value.trim()
    return AGENT_ID.test(id) ? { id, description: `Agent ${id}.` } : undefined
  }
  return state.agents.find((agent) => String(agent.id) === view.agent.value)
}

/** A fresh conversation with the selected agent; its thread starts with the first question. */
function startConversation () {
  stopStreaming()
  state.threadOpen++
  state.threadId = undefined
  view.messages.replaceChildren()
  const agent = currentAgent()
  view.agentDescription.textContent = agent?.description ??
    (state.agents.length === 0 ? 'This Ejento does not list its agents here: type the id of an agent.' : 'No agent is available.')
  showThread()
  view.send.disabled = agent === undefined
}

function changeAgent () {
  startConversation()
  const agent = currentAgent()
  if (agent === undefined) forget()
  else remember(agent.id, undefined)
  act(loadThreads)
}

view.agent.addEventListener('change', changeAgent)
view.agentId.addEventListener('input', () => startConversation())
view.agentId.addEventListener('change', changeAgent)
view.newThread.addEventListener('click', () => {
  clearMessages()
  startConversation()
  const agent = currentAgent()
  if (agent !== undefined) remember(agent.id, undefined)
  view.question.focus()
})

// --- Conversations ------------------------------------------------------------------------

function titleOf (thread) {
  return typeof thread?.title === 'string' && thread.title.trim() !== '' ? thread.title : `Conversation #${thread.id}`
}

/** Names the conversation on screen, and marks it in the list. */
function showThread () {
  const id = state.threadId
  const listed = state.threads.find((thread) => String(thread.id) === String(id))
  view.thread.textContent = id === undefined ? '' : `Conversation #${id}${typeof listed?.title === 'string' && listed.title !== '' ? `: ${listed.title}` : ''}`
  for (const item of view.threadList.children) {
    if (item.dataset.threadId === String(id)) item.querySelector('.open')?.setAttribute('aria-current', 'true')
    else item.querySelector('.open')?.removeAttribute('aria-current')
  }
}

/** The user's conversations with the agent, newest first; hidden quietly where Ejento has none (guide: 501). */
async function loadThreads () {
  const load = ++state.threadsLoad
  const agent = currentAgent()
  if (agent === undefined || !state.threadsSupported) {
    state.threads = []
    view.threads.hidden = true
    return
  }
  let answer
  try {
    answer = await bff.chatThreads(agent.id)
  } catch (error) {
    if (!isNotSupported(error)) throw error
    state.threadsSupported = false
    view.threads.hidden = true
    return
  }
  if (load !== state.threadsLoad) return
  const threads = Array.isArray(answer?.data?.chat_threads) ? answer.data.chat_threads : []
  state.threads = threads.filter((thread) => typeof thread?.id === 'number' || typeof thread?.id === 'string')
  view.threadList.replaceChildren(...state.threads.map(threadItem))
  view.threadsStatus.textContent = state.threads.length === 0 ? 'No conversations with this agent yet.' : ''
  view.threads.hidden = false
  showThread()
}

function button (text, className, label) {
  const element = document.createElement('button')
  element.type = 'button'
  element.className = className
  element.textContent = text
  if (label !== undefined) element.setAttribute('aria-label', label)
  return element
}

function threadItem (thread) {
  const title = titleOf(thread)
  const item = document.createElement('li')
  item.className = 'thread'
  item.dataset.threadId = String(thread.id)
  const open = button(title, 'open link')
  open.addEventListener('click', () => act(() => openThread(thread.id)))
  const rename = button('Rename', 'secondary', `Rename “${title}”`)
  rename.addEventListener('click', () => item.replaceChildren(renameForm(thread, title)))
  const remove = button('Delete', 'secondary', `Delete “${title}”`)
  remove.addEventListener('click', () => {
    if (!window.confirm(`Delete the conversation “${title}”? This cannot be undone.`)) return
    act(async () => {
      await bff.deleteChatThread(thread.id)
      if (String(state.threadId) === String(thread.id)) {
        startConversation()
        const agent = currentAgent()
        if (agent !== undefined) remember(agent.id, undefined)
      }
      showNotice(`Deleted the conversation “${title}”.`)
      await loadThreads()
    })
  })
  item.append(open, rename, remove)
  return item
}

function renameForm (thread, title) {
  const form = document.createElement('form')
  form.className = 'rename'
  const label = document.createElement('label')
  const name = document.createElement('span')
  name.className = 'visually-hidden'
  name.textContent = `New title for “${title}”`
  const input = document.createElement('input')
  input.name = 'title'
  input.required = true
  input.maxLength = 255
  input.value = typeof thread.title === 'string' ? thread.title : ''
  label.append(name, input)
  const cancel = button('Cancel', 'secondary')
  const save = button('Save', '')
  save.type = 'submit'
  const back = () => act(loadThreads)
  cancel.addEventListener('click', back)
  form.addEventListener('keydown', (event) => { if (event.key === 'Escape') back() })
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const newTitle = input.value.trim()
    if (newTitle === '') return
    act(async () => {
      await bff.renameChatThread(thread.id, newTitle)
      showNotice(`Renamed the conversation to “${newTitle}”.`)
      await loadThreads()
    })
  })
  form.append(label, save, cancel)
  queueMicrotask(() => input.focus())
  return form
}

/** Shows a conversation's questions and answers (oldest first), and asks on in that thread. */
async function openThread (threadId) {
  const agent = currentAgent()
  if (agent === undefined) return
  stopStreaming()
  const open = ++state.threadOpen
  const answer = await bff.chatThreadHistory(threadId)
  if (open !== state.threadOpen) return
  const responses = Array.isArray(answer?.data?.agent_responses) ? answer.data.agent_responses : []
  view.messages.replaceChildren()
  for (const response of responses) {
    addMessage('question', typeof response?.question === 'string' ? response.question : '')
    const item = addMessage('answer', '')
    const shown = new AnswerView(item, answerActions)
    shown.finish({ ...response?.response, agent_response_id: undefined })
    if (response?.id !== undefined) shown.showVotes(response.id, lastVote(response.feedback))
    item.dataset.state = 'done'
  }
  dropFollowUps({ keepLast: true })
  state.threadId = threadId
  remember(agent.id, threadId)
  showThread()
}

function lastVote (feedback) {
  const votes = Array.isArray(feedback) ? feedback.map((entry) => entry?.vote_type).filter((vote) => typeof vote === 'string') : []
  return votes.at(-1)
}

// --- Asking, with the answer streamed -----------------------------------------------------

/** What an answer's buttons do: ask a follow-up, vote (answers whether the vote was recorded). */
const answerActions = {
  ask: (question) => askQuestion(question),
  vote: (responseId, voteType) => act(async () => {
    await bff.sendFeedback(responseId, voteType)
  })
}

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

/** Follow-up questions belong to the latest answer only. */
function dropFollowUps ({ keepLast = false } = {}) {
  const groups = [...view.messages.querySelectorAll('.followups')]
  for (const group of keepLast ? groups.slice(0, -1) : groups) group.remove()
}

function stopStreaming () {
  state.streaming?.abort()
  state.streaming = undefined
}

$('ask-form').addEventListener('submit', (event) => {
  event.preventDefault()
  askQuestion(view.question.value.trim(), { fromInput: true })
})

// Enter sends, Shift+Enter starts a new line (and Enter that ends an IME composition only ends it).
view.question.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return
  event.preventDefault()
  if (!view.send.disabled) $('ask-form').requestSubmit()
})

function askQuestion (question, { fromInput = false } = {}) {
  const agent = currentAgent()
  if (question === '' || agent === undefined || state.streaming !== undefined) return
  return act(async () => {
    if (fromInput) view.question.value = ''
    dropFollowUps()
    addMessage('question', question)
    const answer = addMessage('answer', '')
    await streamAnswer(agent, question, answer)
  })
}

async function streamAnswer (agent, question, item) {
  const answer = new AnswerView(item, answerActions)
  item.dataset.state = 'streaming'
  item.setAttribute('aria-busy', 'true')
  const controller = new AbortController()
  state.streaming = controller
  view.send.disabled = true
  const startedIn = state.threadId
  // A conversation's first question starts its thread (chat_thread_id: null); its answer names it.
  const learn = (thread) => {
    if (thread === undefined || controller.signal.aborted) return
    state.threadId = thread.threadId
    remember(agent.id, thread.threadId)
    showThread()
  }
  try {
    // Either format's events, typed by the client (an answer all at once is one `answer` event).
    const events = bff.ask(agent.id, { user_query: question, chat_thread_id: state.threadId ?? null }, { signal: controller.signal })
    for await (const event of events) learn(applyEvent(answer, event))
    if (!answer.finished) throw new Error('The answer stopped before it was complete. Please ask again.')
    item.dataset.state = 'done'
  } catch (error) {
    item.dataset.state = 'error'
    if (item.querySelector('.text').textContent === '') item.remove()
    throw error
  } finally {
    item.removeAttribute('aria-busy')
    if (!controller.signal.aborted) keepTranscript(agent.id, state.threadId)
    if (state.streaming === controller) state.streaming = undefined
    view.send.disabled = currentAgent() === undefined
    // A new conversation joins the list (v2 names it after the question).
    if (!controller.signal.aborted && state.threadId !== startedIn && state.threadsSupported) act(loadThreads)
  }
}

act(async () => {
  const loginError = takeLoginError()
  await loadLoginMethods()
  await loadSession()
  if (loginError !== undefined) showError(loginError)
})
