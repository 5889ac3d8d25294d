/** A parsed `application/x-www-form-urlencoded` body: a parameter given twice has an array of values. */
export type FormBody = Record<string, string | string[]>;

/** Parses a form body into an object without a prototype (no key can reach Object.prototype). */
export function parseFormBody(text: string): FormBody {
  const out: FormBody = Object.create(null) as FormBody;
  for (const [key, value] of new URLSearchParams(text)) {
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else out[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** The one API route that takes form bodies: OAuth token introspection (RFC 7662). */
export const INTROSPECTION_PATH = '/api/oauth/introspect';

/**
 * Every route that takes form bodies: introspection, the authorization server's token and revocation
 * endpoints (RFC 6749, 7009), and the login and consent forms of its pages (which need the
 * interaction's own cookie, SameSite=Lax: another site's form cannot carry it).
 */
export const FORM_ROUTES: readonly string[] = [
  INTROSPECTION_PATH,
  '/oauth/token',
  '/oauth/revoke',
  '/oauth/interaction/:uid/login',
  '/oauth/interaction/:uid/consent',
  '/oauth/interaction/:uid/abort',
];
