/** The 403 answer's message when the CSRF check fails. */
export const CSRF_FAILED_MESSAGE = 'Missing or invalid CSRF token: send the X-CSRF-Token header with the value of the hospiai_csrf cookie';

type Headers = Record<string, string | string[] | undefined>;

/**
 * The CSRF check of the dashboard's cookie session (double submit, bound to the session).
 * Provided by the auth module (SessionCookies, which issues the cookies); the global guard
 * depends on this abstraction only.
 */
export abstract class CsrfCheck {
  /** Whether the request must pass the check: a state-changing method authenticated by the session cookie. */
  abstract needsCsrfCheck(method: string, headers: Headers): boolean;
  /** Whether the request's CSRF token is the one of its session. */
  abstract csrfValid(headers: Headers): boolean;
}
