import { createHmac, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CsrfCheck } from '../access/csrf-check.js';
import { KeyRing } from './key-ring.js';

/** The session JWT, for the dashboard: HttpOnly, so that no script can read it. */
export const SESSION_COOKIE = 'hospiai_session';
/** The CSRF token, readable by the dashboard's scripts, which send it back as X-CSRF-Token. */
export const CSRF_COOKIE = 'hospiai_csrf';
export const CSRF_HEADER = 'x-csrf-token';

const UNSAFE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const MAX_COOKIE_HEADER = 8192;

type Headers = Record<string, string | string[] | undefined>;

/**
 * The cookies of a Cookie header (RFC 6265 §5.4): `name=value` pairs split on
 * `;`. The first occurrence of a name wins; values are taken as they are
 * (ours are base64url and JWTs, never encoded). An oversized header yields nothing.
 */
export function parseCookies(header: unknown): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (typeof header !== 'string' || header.length > MAX_COOKIE_HEADER) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name !== '' && !(name in out)) out[name] = value;
  }
  return out;
}

export interface CookieOptions {
  httpOnly: boolean;
  secure: boolean;
  maxAgeSeconds: number;
}

/** A Set-Cookie value: Path=/, SameSite=Strict, never a Domain (the cookie stays on this host). */
export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  const parts = [`${name}=${value}`, 'Path=/', `Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds))}`, 'SameSite=Strict'];
  if (o.maxAgeSeconds <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (o.httpOnly) parts.push('HttpOnly');
  if (o.secure) parts.push('Secure');
  return parts.join('; ');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether the request came over HTTPS (X-Forwarded-Proto is believed only with TRUST_PROXY). */
export function isHttps(req: Pick<FastifyRequest, 'protocol'>): boolean {
  return req.protocol === 'https';
}

/**
 * The browser session of the dashboard: the session JWT in an HttpOnly,
 * SameSite=Strict cookie, and a double-submit CSRF token.
 *
 * The CSRF token is an HMAC of the session JWT under a key of its own, so the
 * server checks that the X-CSRF-Token header equals the csrf cookie *and* that
 * both belong to the session cookie: a csrf cookie planted by a sibling host
 * (cookie tossing) does not pass.
 */
@Injectable()
export class SessionCookies implements CsrfCheck {
  constructor(private readonly keys: KeyRing) {}

  csrfTokenFor(sessionJwt: string): string {
    const key = this.keys.csrf;
    if (!key) throw new Error('no CSRF key');
    return createHmac('sha256', key).update(sessionJwt).digest('base64url');
  }

  /** Set-Cookie values for a new session of `expiresIn` seconds. */
  issue(sessionJwt: string, expiresIn: number, secure: boolean): string[] {
    return [
      serializeCookie(SESSION_COOKIE, sessionJwt, { httpOnly: true, secure, maxAgeSeconds: expiresIn }),
      serializeCookie(CSRF_COOKIE, this.csrfTokenFor(sessionJwt), { httpOnly: false, secure, maxAgeSeconds: expiresIn }),
    ];
  }

  /** Set-Cookie values that remove both cookies. */
  clear(secure: boolean): string[] {
    return [
      serializeCookie(SESSION_COOKIE, '', { httpOnly: true, secure, maxAgeSeconds: 0 }),
      serializeCookie(CSRF_COOKIE, '', { httpOnly: false, secure, maxAgeSeconds: 0 }),
    ];
  }

  setOn(reply: FastifyReply, cookies: string[]): void {
    void reply.header('Set-Cookie', cookies).header('Cache-Control', 'no-store');
  }

  /**
   * Whether a request must pass the CSRF check: a state-changing method
   * authenticated by the session cookie, that is with no Authorization header
   * (the session strategy reads the cookie only then).
   */
  needsCsrfCheck(method: string, headers: Headers): boolean {
    return (
      UNSAFE_METHODS.has(method.toUpperCase()) && headers.authorization === undefined && SESSION_COOKIE in parseCookies(headers.cookie)
    );
  }

  /** X-CSRF-Token equals the csrf cookie, and both are the HMAC of the session cookie (constant-time). */
  csrfValid(headers: Headers): boolean {
    const sent = headers[CSRF_HEADER];
    if (typeof sent !== 'string' || sent === '') return false;
    const cookies = parseCookies(headers.cookie);
    const cookie = cookies[CSRF_COOKIE];
    const session = cookies[SESSION_COOKIE];
    if (!cookie || !session || !this.keys.csrf) return false;
    const expected = this.csrfTokenFor(session);
    // Both comparisons run whatever the first one gives.
    const equalsCookie = sameText(sent, cookie);
    const matchesSession = sameText(sent, expected);
    return equalsCookie && matchesSession;
  }
}

/** passport-jwt extractor: the session cookie, only when the request has no Authorization header. */
export function sessionFromCookie(req: { headers?: Headers }): string | null {
  const headers = req.headers ?? {};
  if (headers.authorization !== undefined) return null;
  const value = parseCookies(headers.cookie)[SESSION_COOKIE];
  return value ? value : null;
}
