import { request } from 'undici'

/** Logs in through a BFF and answers the cookie header to send next. */
export async function loginCookie (baseUrl: string, credentials = { email: 'bench@example.com', password: 'bench-password' }): Promise<string> {
  const response = await request(`${baseUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(credentials)
  })
  await response.body.dump()
  const setCookie = response.headers['set-cookie']
  const cookie = (Array.isArray(setCookie) ? setCookie.at(-1) : setCookie)?.split(';')[0]
  if (response.statusCode !== 200 || cookie === undefined) throw new Error(`bench log-in failed: ${response.statusCode}`)
  return cookie
}

/** Polls /readyz until the BFF answers 200. */
export async function untilReady (baseUrl: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const response = await request(`${baseUrl}/readyz`)
    await response.body.dump()
    if (response.statusCode === 200) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the BFF never became ready')
}

/** Reads one sample of a metric from /metrics. */
export async function metric (baseUrl: string, name: string): Promise<number> {
  const response = await request(`${baseUrl}/metrics`)
  const text = await response.body.text()
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `) || candidate.startsWith(`${name}{`))
  return Number(line?.split(' ').at(-1) ?? Number.NaN)
}
