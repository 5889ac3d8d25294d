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

/** The one route that takes form bodies: OAuth token introspection (RFC 7662). */
export const INTROSPECTION_PATH = '/api/oauth/introspect';
