import { KeyRing } from './key-ring.js';
import { CSRF_COOKIE, parseCookies, serializeCookie, SESSION_COOKIE, SessionCookies, sessionFromCookie } from './session-cookie.js';

const ring = new KeyRing(Buffer.from('unit-test-secret-0123456789abcdefghijklmnopqrstuvwxyz'));
const cookies = new SessionCookies(ring);
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

describe('parseCookies', () => {
  it('reads name=value pairs, trims them, keeps the first of a name', () => {
    expect(parseCookies('a=1; b = 2 ;a=3; c="quoted"; broken; =x')).toEqual({ a: '1', b: '2', c: 'quoted' });
  });

  it('gives nothing for a missing, non-string or oversized header', () => {
    expect(parseCookies(undefined)).toEqual({});
    expect(parseCookies(['a=1'])).toEqual({});
    expect(parseCookies(`a=${'x'.repeat(9000)}`)).toEqual({});
  });

  it('is not fooled by __proto__', () => {
    const parsed = parseCookies('__proto__=x; a=1');
    expect(parsed.a).toBe('1');
    expect(Object.getPrototypeOf(parsed)).toBeNull();
  });
});

describe('serializeCookie', () => {
  it('writes Path=/, Max-Age and SameSite=Strict, HttpOnly and Secure when asked', () => {
    expect(serializeCookie('s', 'v', { httpOnly: true, secure: true, maxAgeSeconds: 3600 })).toBe(
      's=v; Path=/; Max-Age=3600; SameSite=Strict; HttpOnly; Secure',
    );
    expect(serializeCookie('c', 'v', { httpOnly: false, secure: false, maxAgeSeconds: 60 })).toBe(
      'c=v; Path=/; Max-Age=60; SameSite=Strict',
    );
  });

  it('expires the cookie at once for Max-Age 0', () => {
    expect(serializeCookie('s', '', { httpOnly: true, secure: false, maxAgeSeconds: 0 })).toBe(
      's=; Path=/; Max-Age=0; SameSite=Strict; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly',
    );
  });
});

describe('SessionCookies', () => {
  const csrf = cookies.csrfTokenFor(JWT);
  const both = `${SESSION_COOKIE}=${JWT}; ${CSRF_COOKIE}=${csrf}`;

  it('issues the session cookie (HttpOnly) and a CSRF cookie bound to it', () => {
    const [session, token] = cookies.issue(JWT, 900, false);
    expect(session).toBe(`${SESSION_COOKIE}=${JWT}; Path=/; Max-Age=900; SameSite=Strict; HttpOnly`);
    expect(token).toBe(`${CSRF_COOKIE}=${csrf}; Path=/; Max-Age=900; SameSite=Strict`);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookies.csrfTokenFor(`${JWT}x`)).not.toBe(csrf);
    expect(new SessionCookies(new KeyRing(Buffer.from('another-secret-0123456789abcdefghijklmnopqrstuvwxyz'))).csrfTokenFor(JWT)).not.toBe(
      csrf,
    );
  });

  it.each([
    ['POST', { cookie: both }, true],
    ['delete', { cookie: both }, true],
    ['PATCH', { cookie: both }, true],
    ['PUT', { cookie: both }, true],
    ['GET', { cookie: both }, false],
    ['HEAD', { cookie: both }, false],
    ['POST', { cookie: both, authorization: 'Bearer x' }, false],
    ['POST', { cookie: `${CSRF_COOKIE}=${csrf}` }, false],
    ['POST', {}, false],
  ])('needsCsrfCheck(%s, %j) is %s', (method, headers, expected) => {
    expect(cookies.needsCsrfCheck(method, headers)).toBe(expected);
  });

  it('accepts the header equal to the cookie and bound to the session', () => {
    expect(cookies.csrfValid({ cookie: both, 'x-csrf-token': csrf })).toBe(true);
  });

  it.each([
    ['no header', { cookie: both }],
    ['an empty header', { cookie: both, 'x-csrf-token': '' }],
    ['a header that differs', { cookie: both, 'x-csrf-token': `${csrf.slice(0, -1)}A` }],
    ['a header sent twice', { cookie: both, 'x-csrf-token': [csrf, csrf] }],
    ['no csrf cookie', { cookie: `${SESSION_COOKIE}=${JWT}`, 'x-csrf-token': csrf }],
    [
      'a planted csrf cookie that matches the header',
      { cookie: `${SESSION_COOKIE}=${JWT}; ${CSRF_COOKIE}=planted`, 'x-csrf-token': 'planted' },
    ],
    ['the csrf of another session', { cookie: `${SESSION_COOKIE}=${JWT}x; ${CSRF_COOKIE}=${csrf}`, 'x-csrf-token': csrf }],
  ])('refuses %s', (_what, headers) => {
    expect(cookies.csrfValid(headers as Record<string, string>)).toBe(false);
  });

  it('clears both cookies', () => {
    expect(cookies.clear(true).map((c) => c.split(';')[0])).toEqual([`${SESSION_COOKIE}=`, `${CSRF_COOKIE}=`]);
    expect(cookies.clear(true).every((c) => c.includes('Max-Age=0') && c.includes('Secure'))).toBe(true);
  });
});

describe('sessionFromCookie', () => {
  it('reads the session cookie only when there is no Authorization header', () => {
    expect(sessionFromCookie({ headers: { cookie: `${SESSION_COOKIE}=${JWT}` } })).toBe(JWT);
    expect(sessionFromCookie({ headers: { cookie: `${SESSION_COOKIE}=${JWT}`, authorization: 'Basic x' } })).toBeNull();
    expect(sessionFromCookie({ headers: { cookie: `${SESSION_COOKIE}=` } })).toBeNull();
    expect(sessionFromCookie({ headers: {} })).toBeNull();
    expect(sessionFromCookie({})).toBeNull();
  });
});
