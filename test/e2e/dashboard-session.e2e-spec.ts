// The dashboard's browser session: the session JWT in an HttpOnly cookie,
// double-submit CSRF on state-changing requests, logout, and the pages'
// security headers.
import { createUser, PASSWORD, startTestApp, type TestApp } from '../support/test-app.js';

interface SetCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

function setCookies(headers: Headers): SetCookie[] {
  return headers.getSetCookie().map((line) => {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const eq = pair.indexOf('=');
    const attributes: Record<string, string | true> = {};
    for (const a of attrs) {
      const i = a.indexOf('=');
      attributes[(i < 0 ? a : a.slice(0, i)).toLowerCase()] = i < 0 ? true : a.slice(i + 1);
    }
    return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
  });
}

describe('dashboard session (cookie + CSRF)', () => {
  let t: TestApp;
  let user: { id: string; email: string; token: string };
  let session: SetCookie;
  let csrf: SetCookie;
  let cookieHeader: string;
  const tokenBody = { name: 'Serveur FastMCP', scopes: ['read:data'], durationDays: 30 };

  beforeAll(async () => {
    t = await startTestApp({ SESSION_TTL_SECONDS: '1800' });
    user = await createUser(t);
    const login = await t.request('POST', '/api/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(login.status).toBe(200);
    const cookies = setCookies(login.headers);
    session = cookies.find((c) => c.name === 'hospiai_session')!;
    csrf = cookies.find((c) => c.name === 'hospiai_csrf')!;
    cookieHeader = `hospiai_session=${session.value}; hospiai_csrf=${csrf.value}`;
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('POST /api/auth/login', () => {
    it('sets the session cookie: the session JWT, HttpOnly, SameSite=Strict, Path=/, Max-Age = session lifetime, not Secure over HTTP', async () => {
      const login = await t.request('POST', '/api/auth/login', { body: { email: user.email, password: PASSWORD } });
      const s = setCookies(login.headers).find((c) => c.name === 'hospiai_session')!;
      expect(s.value).toBe(login.body.accessToken);
      expect(s.attributes).toEqual({ path: '/', 'max-age': '1800', samesite: 'Strict', httponly: true });
      expect(login.headers.get('cache-control')).toBe('no-store');
    });

    it('sets a readable CSRF cookie (SameSite=Strict, not HttpOnly), different for each session', async () => {
      expect(csrf.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(csrf.attributes).toEqual({ path: '/', 'max-age': '1800', samesite: 'Strict' });
      await new Promise((r) => setTimeout(r, 1100));
      const again = await t.request('POST', '/api/auth/login', { body: { email: user.email, password: PASSWORD } });
      expect(setCookies(again.headers).find((c) => c.name === 'hospiai_csrf')!.value).not.toBe(csrf.value);
    });

    it('sets no cookie on a failed login', async () => {
      const bad = await t.request('POST', '/api/auth/login', { body: { email: user.email, password: 'not the password' } });
      expect(bad.status).toBe(401);
      expect(bad.headers.getSetCookie()).toEqual([]);
    });
  });

  describe('requests authenticated by the cookie', () => {
    it('GET works with the cookie alone', async () => {
      const me = await t.request('GET', '/api/users/me', { headers: { cookie: cookieHeader } });
      expect(me.status).toBe(200);
      expect(me.body.user.id).toBe(user.id);
    });

    it('POST /api/tokens without X-CSRF-Token is 403 csrf_failed, and creates nothing', async () => {
      const res = await t.request('POST', '/api/tokens', { body: tokenBody, headers: { cookie: cookieHeader } });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: 'csrf_failed', error: expect.stringContaining('X-CSRF-Token') });
      const { rows } = await t.db.query('SELECT count(*)::int AS n FROM api_tokens WHERE user_id = $1', [user.id]);
      expect(rows[0].n).toBe(0);
    });

    it('POST /api/tokens with a wrong X-CSRF-Token is 403 csrf_failed', async () => {
      const res = await t.request('POST', '/api/tokens', {
        body: tokenBody,
        headers: { cookie: cookieHeader, 'x-csrf-token': `${csrf.value.slice(0, -2)}AA` },
      });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('csrf_failed');
    });

    it('refuses a CSRF cookie and header that match each other but not the session (a planted cookie)', async () => {
      const planted = 'A'.repeat(43);
      const res = await t.request('POST', '/api/tokens', {
        body: tokenBody,
        headers: { cookie: `hospiai_session=${session.value}; hospiai_csrf=${planted}`, 'x-csrf-token': planted },
      });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('csrf_failed');
    });

    it('POST /api/tokens with the right X-CSRF-Token is 201', async () => {
      const res = await t.request('POST', '/api/tokens', {
        body: tokenBody,
        headers: { cookie: cookieHeader, 'x-csrf-token': csrf.value },
      });
      expect(res.status).toBe(201);
      expect(res.body.token).toEqual(expect.any(String));
      const revoke = await t.request('DELETE', `/api/tokens/${res.body.id}`, { headers: { cookie: cookieHeader } });
      expect(revoke.status).toBe(403);
      expect(revoke.body.code).toBe('csrf_failed');
      const revoked = await t.request('DELETE', `/api/tokens/${res.body.id}`, {
        headers: { cookie: cookieHeader, 'x-csrf-token': csrf.value },
      });
      expect(revoked.status).toBe(204);
    });

    it('PATCH /api/users/me needs the CSRF header too', async () => {
      const without = await t.request('PATCH', '/api/users/me', { body: { firstname: 'Irène' }, headers: { cookie: cookieHeader } });
      expect(without.status).toBe(403);
      const withIt = await t.request('PATCH', '/api/users/me', {
        body: { firstname: 'Irène' },
        headers: { cookie: cookieHeader, 'x-csrf-token': csrf.value },
      });
      expect(withIt.status).toBe(200);
    });

    it('an invalid session cookie is 401, as a bad bearer would be', async () => {
      const res = await t.request('GET', '/api/users/me', { headers: { cookie: `hospiai_session=${session.value.slice(0, -4)}abcd` } });
      expect(res.status).toBe(401);
    });

    it('an API token in the session cookie is not a session', async () => {
      const created = await t.request('POST', '/api/tokens', { token: user.token, body: tokenBody });
      const res = await t.request('GET', '/api/users/me', { headers: { cookie: `hospiai_session=${created.body.token}` } });
      expect(res.status).toBe(401);
    });
  });

  describe('requests with an Authorization header', () => {
    it('bearer requests need no CSRF header', async () => {
      const res = await t.request('POST', '/api/tokens', { token: user.token, body: tokenBody });
      expect(res.status).toBe(201);
    });

    it('ignore the cookies: a bad bearer is 401 even with a valid session cookie', async () => {
      const res = await t.request('GET', '/api/users/me', { headers: { cookie: cookieHeader, authorization: 'Bearer not.a.jwt' } });
      expect(res.status).toBe(401);
      const basic = await t.request('POST', '/api/tokens', {
        body: tokenBody,
        headers: { cookie: cookieHeader, authorization: 'Basic Zm9vOmJhcg==' },
      });
      expect(basic.status).toBe(401);
    });
  });

  describe('POST /api/auth/logout', () => {
    it('clears both cookies (204) with the cookie session and its CSRF header', async () => {
      const refused = await t.request('POST', '/api/auth/logout', { headers: { cookie: cookieHeader } });
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe('csrf_failed');

      const res = await t.request('POST', '/api/auth/logout', { headers: { cookie: cookieHeader, 'x-csrf-token': csrf.value } });
      expect(res.status).toBe(204);
      const cleared = setCookies(res.headers);
      expect(cleared.map((c) => c.name).sort()).toEqual(['hospiai_csrf', 'hospiai_session']);
      for (const c of cleared) {
        expect(c.value).toBe('');
        expect(c.attributes['max-age']).toBe('0');
        expect(c.attributes.path).toBe('/');
      }
      expect(cleared.find((c) => c.name === 'hospiai_session')!.attributes.httponly).toBe(true);
    });

    it('works with a bearer session too, and needs a session', async () => {
      expect((await t.request('POST', '/api/auth/logout', { token: user.token })).status).toBe(204);
      expect((await t.request('POST', '/api/auth/logout')).status).toBe(401);
    });

    it('is documented in Swagger, with the Set-Cookie of login', async () => {
      const doc = (await t.request('GET', '/api/docs-json')).body;
      const logout = doc.paths['/api/auth/logout'].post;
      expect(logout['x-access']).toBe('session(user|auditor|admin)');
      expect(Object.keys(logout.responses)).toEqual(expect.arrayContaining(['204', '401', '403']));
      expect(logout.responses['204'].headers['Set-Cookie']).toBeDefined();
      const forbidden = logout.responses['403'].content['application/json'].examples;
      expect(Object.keys(forbidden)).toEqual(['csrf_failed']);
      expect(forbidden.csrf_failed.value.code).toBe('csrf_failed');
      expect(doc.paths['/api/auth/login'].post.responses['200'].headers['Set-Cookie'].description).toContain('HttpOnly');
      expect(Object.keys(doc.paths).filter((p) => p.startsWith('/dashboard'))).toEqual([]);
    });
  });

  describe('the dashboard pages', () => {
    it.each(['/dashboard/login', '/dashboard/tokens', '/dashboard/audit'])(
      '%s is served with a strict CSP and no inline script',
      async (path) => {
        const res = await t.request('GET', path);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
        const csp = res.headers.get('content-security-policy')!;
        expect(csp).toContain("default-src 'self'");
        expect(csp).toContain("script-src 'self';");
        expect(csp).toContain("style-src 'self';");
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).toContain("base-uri 'none'");
        expect(csp).not.toContain('unsafe-inline');
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        expect(res.headers.get('referrer-policy')).toBe('no-referrer');
        expect(res.headers.get('cache-control')).toBe('no-cache');
        const scripts = [...res.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
        expect(scripts.length).toBeGreaterThan(0);
        for (const [, attrs, body] of scripts) {
          expect(attrs).toMatch(/\bsrc="\/dashboard\/assets\/[a-z0-9-]+\.js"/);
          expect(body.trim()).toBe('');
        }
        expect(res.text).not.toMatch(/\sstyle=|<style|\son[a-z]+=/i);
        expect(res.text).toContain('<html lang="fr">');
      },
    );

    it('/dashboard redirects to /dashboard/tokens', async () => {
      const res = await fetch(`${t.baseUrl}/dashboard`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/dashboard/tokens');
    });

    it('serves the scripts and the stylesheet with their types, compressed when asked, and revalidates with ETag', async () => {
      const js = await fetch(`${t.baseUrl}/dashboard/assets/tokens.js`, { headers: { 'accept-encoding': 'identity' } });
      expect(js.status).toBe(200);
      expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(js.headers.get('content-security-policy')).toContain("script-src 'self'");
      const etag = js.headers.get('etag')!;
      expect((await js.text()).length).toBeGreaterThan(0);
      const again = await fetch(`${t.baseUrl}/dashboard/assets/tokens.js`, {
        headers: { 'accept-encoding': 'identity', 'if-none-match': etag },
      });
      expect(again.status).toBe(304);

      const css = await fetch(`${t.baseUrl}/dashboard/assets/dashboard.css`, { headers: { 'accept-encoding': 'gzip' } });
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      expect(css.headers.get('content-encoding')).toBe('gzip');
      expect(css.headers.get('vary')).toBe('Accept-Encoding');
      expect(await css.text()).toContain(':focus-visible');
    });

    it.each(['/dashboard/assets/nothing.js', '/dashboard/assets/..%2Fpackage.json', '/dashboard/assets/tokens.html', '/dashboard/nothing'])(
      '%s is 404',
      async (path) => {
        const res = await t.request('GET', path);
        expect(res.status).toBe(404);
      },
    );

    it('the API answers carry no dashboard CSP (the API has its own, stricter one)', async () => {
      const res = await t.request('GET', '/api/health');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).not.toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
    });
  });

  // Last: passport keeps one strategy per name for the whole process, so the
  // second app started here takes over the 'session' strategy of the first.
  describe('behind a reverse proxy', () => {
    it('marks both cookies Secure when the request came over HTTPS through a trusted proxy (TRUST_PROXY)', async () => {
      const proxied = await startTestApp({ TRUST_PROXY: '127.0.0.1' });
      try {
        const u = await createUser(proxied);
        const login = await proxied.request('POST', '/api/auth/login', {
          body: { email: u.email, password: PASSWORD },
          headers: { 'x-forwarded-proto': 'https' },
        });
        expect(login.status).toBe(200);
        const cookies = setCookies(login.headers);
        expect(cookies.map((c) => c.name).sort()).toEqual(['hospiai_csrf', 'hospiai_session']);
        expect(Object.fromEntries(cookies.map((c) => [c.name, c.attributes.secure]))).toEqual({
          hospiai_csrf: true,
          hospiai_session: true,
        });
      } finally {
        await proxied.close();
      }
      // Without TRUST_PROXY, X-Forwarded-Proto is not believed.
      const plain = await t.request('POST', '/api/auth/login', {
        body: { email: user.email, password: PASSWORD },
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(plain.status).toBe(200);
      const cookies = setCookies(plain.headers);
      expect(cookies.map((c) => c.name).sort()).toEqual(['hospiai_csrf', 'hospiai_session']);
      for (const c of cookies) expect(c.attributes).not.toHaveProperty('secure');
    });
  });
});
