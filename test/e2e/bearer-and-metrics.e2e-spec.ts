// A refused bearer on a session route is named invalid (RFC 6750), and GET /metrics can be closed
// with METRICS_TOKEN.
import { loadConfig } from '../../src/config/config.js';
import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

describe('WWW-Authenticate on session routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('a bad, forged or wrong-kind bearer is 401 with Bearer error="invalid_token"; no bearer, plain Bearer', async () => {
    const u = await createUser(t);
    const apiToken = (await t.request('POST', '/api/tokens', { token: u.token, body: { name: 'x', scopes: ['read:data'], durationDays: 1 } })).body
      .token;
    const [header, payload] = u.token.split('.');
    for (const bearer of ['not-a-jwt', `${header}.${payload}.AAAA`, apiToken]) {
      for (const [method, path] of [
        ['GET', '/api/users/me'],
        ['GET', '/api/tokens'],
        ['POST', '/api/auth/logout'],
      ]) {
        const res = await t.request(method, path, { token: bearer });
        expect(res.status).toBe(401);
        expect(res.body.code).toBe('unauthorized');
        expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      }
    }
    const none = await t.request('GET', '/api/users/me');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await t.request('GET', '/api/users/me', { token: u.token })).status).toBe(200);
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  const SECRET = 'metrics-secret-0123456789abcdef';
  let t: TestApp;
  let open: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ METRICS_TOKEN: SECRET });
    open = await startTestApp();
  });
  afterAll(async () => {
    await open.close();
    await t.close();
  });

  it('needs Authorization: Bearer <METRICS_TOKEN>: none or another is 401, the right one 200', async () => {
    const none = await t.request('GET', '/metrics');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'unauthorized', error: 'Authentication required' });
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(none.text).not.toContain('http_requests_total');
    for (const wrong of [SECRET.slice(0, -1), `${SECRET}x`, 'x', SECRET.toUpperCase()]) {
      const res = await t.request('GET', '/metrics', { token: wrong });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    }
    const basic = await t.request('GET', '/metrics', { headers: { authorization: `Basic ${Buffer.from(`x:${SECRET}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
    const ok = await t.request('GET', '/metrics', { token: SECRET });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('http_requests_total');
    expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(t.logs.join('\n')).not.toContain(SECRET);
  });

  it('without METRICS_TOKEN, /metrics stays open', async () => {
    const res = await open.request('GET', '/metrics');
    expect(res.status).toBe(200);
  });

  it('a short METRICS_TOKEN stops the start with one line naming the variable, not its value', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', METRICS_TOKEN: 'short-secret' })).toThrow(
      /^Invalid configuration: METRICS_TOKEN must be 16 to 256 printable ASCII characters/,
    );
    try {
      loadConfig({ NODE_ENV: 'test', METRICS_TOKEN: 'short-secret' });
    } catch (err) {
      expect((err as Error).message).not.toContain('short-secret');
    }
  });
});
