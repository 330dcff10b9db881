import { PATH_PROFILES } from '../upstream/paths.js'

/** Every profile's token-issuing paths, whichever profile is in use. */
const TOKEN_ISSUING = Object.values(PATH_PROFILES).flatMap((profile) => profile.auth.tokenIssuing)

/**
 * Segments that name a token-issuing or account-creating endpoint wherever they appear, so
 * that no service prefix (`/auth-service/api/v1/...`) and no shared host (both upstream URLs
 * on one gateway, reachable through either passthrough) gets around the refusal. The
 * password-less start is one too: it mails anyone a code and a magic link to any `next`.
 */
const FORBIDDEN_SEGMENTS = /(?:^|\/)(?:login|signup|access-token|refresh-access-token|refresh-token|token|verify-otp|passwordless-auth|validate-magic-link)(?:\/|$)/i

/**
 * Why a passthrough path may not be called, or undefined when it may, for one reading of
 * it (see `forbiddenInAnyReading` in path.ts). Log-in and refresh answer with tokens, which must never reach
 * a browser; sign-up has its own rate-limited route.
 */
export function forbiddenPassthroughPath (reading: string, method = 'GET'): string | undefined {
  if (TOKEN_ISSUING.some((pattern) => pattern.test(reading)) || FORBIDDEN_SEGMENTS.test(reading)) {
    return 'Log-in, token and sign-up paths cannot be called through the passthrough; use /auth/login, /auth/refresh and /auth/signup.'
  }
  if ((method === 'PATCH' || method === 'PUT') && USER_CHANGE.test(reading)) {
    return 'A password or user change goes through PATCH /api/users/me/password or PATCH /api/users/{userId}, which end the sessions the change must end.'
  }
  return undefined
}

/**
 * `/users/me/password` and `/users/{id}` (under any prefix): a change there must end sessions
 * (issue 11), which only the named routes do; through the passthrough it would leave a stolen
 * cookie or a deactivated user's sessions alive.
 */
const USER_CHANGE = /(?:^|\/)users\/(?:me\/password|[^/]+)\/?$/i
