// The page's calls to the BFF: JSON in and out, with the session cookie (HttpOnly: no script reads it).

/** An error the BFF (problem+json `detail`) or Ejento (`message`, FastAPI `detail`) explained. */
export class ApiError extends Error {
  constructor (status, message, code) {
    super(message)
    this.status = status
    this.code = code
  }
}

export async function api (path, { method = 'GET', body, accept = 'application/json', signal } = {}) {
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

export async function json (path, options) {
  const response = await api(path, options)
  if (response.status === 204) return undefined
  const text = await response.text()
  return text === '' ? undefined : JSON.parse(text)
}

/** "This BFF's Ejento has no such call" (guide): a feature to leave out quietly, not an error to show. */
export function isNotSupported (error) {
  return error instanceof ApiError && error.status === 501
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
