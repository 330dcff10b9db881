// The README's example of the client (section "A typed client for browser apps"): it must compile.
import { BffError, createClient } from '../src/index.js'

const bff = createClient() // the page's own origin; or createClient({ baseUrl: 'https://bff.example.com' })

const methods = await bff.loginMethods() // {profile, password, passwordless, sso: ['google', ...]}
if (!(await bff.session()).authenticated) await bff.login({ email: 'demo@example.com', password: 'demo-password' })

const controller = new AbortController() // controller.abort() stops the answer, upstream too
let text = ''
for await (const event of bff.ask(1, { user_query: 'What is Ejento?', chat_thread_id: null }, { signal: controller.signal })) {
  switch (event.type) {
    case 'token': // the guide's `event: token`
    case 'assistant_stream': // v2's `step: assistant_stream`
      text += event.data.delta
      break
    case 'end': // the whole answer, and the conversation it started
      console.log(event.format === 'v2' ? event.data.output.thread_id : event.data.output.chat_thread_id)
      break
    case 'error': // Ejento's, or the BFF's own (code upstream_stream_failed)
      console.error(event.data.message)
      break
  }
}

try {
  const { data } = await bff.chatThreads(1)
  console.log(data.chat_threads.map((thread) => thread.title))
} catch (error) {
  // Problem JSON: status, code, detail, problem; Ejento's own errors: status and body, no code.
  if (!(error instanceof BffError) || error.code !== 'not_supported') throw error
}
await bff.logout()
console.log(methods.profile, text)
