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

describe('Swagger: the 401 answers of routes that take API tokens', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('list the codes a refused API token really gets, with their messages', async () => {
    const doc = (await t.request('GET', '/api/docs-json')).body;
    const auditor = await createUser(t, { role: 'auditor' });
    const created = await t.request('POST', '/api/tokens', { token: auditor.token, body: { name: 'a', scopes: ['read:audit'], durationDays: 1 } });
    expect((await t.request('GET', '/api/audit/events', { token: created.body.token })).status).toBe(200);
    const malformed = created.body.token.slice(0, -3) + 'AAA';
    expect((await t.request('DELETE', `/api/tokens/${created.body.id}`, { token: auditor.token })).status).toBe(204);
    const answers = [
      await t.request('GET', '/api/audit/events', { token: malformed }),
      await t.request('GET', '/api/audit/events', { token: created.body.token }),
      await t.request('GET', '/api/audit/events'),
    ];
    expect(answers.map((a) => [a.status, a.body.code])).toEqual([
      [401, 'invalid_token'],
      [401, 'token_revoked'],
      [401, 'unauthorized'],
    ]);
    for (const path of ['/api/audit/events', '/api/audit/events/export', '/api/audit/stats', '/api/audit/verify']) {
      const content = doc.paths[path].get.responses['401'].content['application/json'];
      const examples = Object.values(content.examples as Record<string, { value: { code: string; error: string } }>).map((e) => e.value);
      for (const a of answers) expect(examples).toContainEqual({ ...a.body, requestId: 'req-7f3a2c' });
      expect(examples.map((e) => e.code).sort()).toEqual(['invalid_token', 'token_expired', 'token_revoked', 'unauthorized']);
    }
    // A route only sessions may call keeps its one example.
    expect(doc.paths['/api/users/me'].get.responses['401'].content['application/json'].example.code).toBe('unauthorized');
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
