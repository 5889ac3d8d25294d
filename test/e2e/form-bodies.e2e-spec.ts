// Form bodies (application/x-www-form-urlencoded) are for token introspection (RFC 7662) alone.
// Any other route refuses them with 415: an HTML form of another site posts such a body without a
// CORS preflight, and must not log a browser into an account (login CSRF) or reach any other route.
import { UUID } from '../support/formats.js';
import { basic, createToken, registerClient, type RegisteredClient } from '../support/mcp.js';
import { createUser, PASSWORD, startTestApp, uniqueEmail, type TestApp, type User } from '../support/test-app.js';

const FORM = 'application/x-www-form-urlencoded';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

describe('form bodies', () => {
  let t: TestApp;
  let admin: User;
  let user: User;
  let client: RegisteredClient;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
    user = await createUser(t);
    client = await registerClient(t, admin.token);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A form post as a browser sends it: no Authorization header unless given. */
  async function postForm(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(`${t.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': FORM, ...headers },
      body: new URLSearchParams(form).toString(),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
  }

  function expect415(res: Answer): void {
    expect(res.status).toBe(415);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.body).toEqual({
      error: expect.stringContaining('application/json'),
      code: 'unsupported_media_type',
      requestId: res.headers.get('x-request-id'),
    });
  }

  /** The events of an answered request, found by its request id (the answer's X-Request-Id). */
  const eventsOf = async (headers: Headers) => {
    const requestId = headers.get('x-request-id');
    expect(requestId).toMatch(UUID);
    return (await t.db.query(`SELECT type, outcome FROM audit_event WHERE request_id = $1`, [requestId])).rows;
  };

  it('a form login with the right credentials is 415: no session, no cookie, no login', async () => {
    const res = await postForm('/api/auth/login', { email: user.email, password: user.password });
    expect415(res);
    expect(res.text).not.toMatch(/accessToken|eyJ/);
    expect(await eventsOf(res.headers)).toEqual([]);
    // The same credentials as JSON still log in, with the session cookies.
    const json = await t.request('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    expect(json.status).toBe(200);
    expect(json.headers.get('set-cookie')).toMatch(/hospiai_session=/);
  });

  it('a form with a charset parameter is refused the same way', async () => {
    expect415(
      await postForm('/api/auth/login', { email: user.email, password: user.password }, { 'content-type': `${FORM}; charset=utf-8` }),
    );
  });

  it('a form registration is 415 and creates no account', async () => {
    const email = uniqueEmail('form');
    const res = await postForm('/api/auth/register', { email, password: PASSWORD, firstname: 'Marie', surname: 'Curie' });
    expect415(res);
    expect((await t.db.query(`SELECT count(*)::int AS n FROM users WHERE email = $1`, [email])).rows[0].n).toBe(0);
    expect(await eventsOf(res.headers)).toEqual([]);
  });

  it('other JSON routes refuse forms too (415), before authentication', async () => {
    expect415(
      await postForm('/api/tokens', { name: 'x', scopes: 'read:data', durationDays: '7' }, { authorization: `Bearer ${user.token}` }),
    );
    expect415(await postForm('/api/auth/logout', {}, { authorization: `Bearer ${user.token}` }));
    expect415(await postForm('/api/mcp/clients', { name: 'x' }, { authorization: `Bearer ${admin.token}` }));
  });

  it('plain-text bodies (fetch with a string body, enctype="text/plain" forms) are 415 too, not a 400 per field', async () => {
    const json = JSON.stringify({ email: user.email, password: user.password });
    // fetch sends a string body as text/plain;charset=UTF-8 when no Content-Type is given.
    const login = await fetch(`${t.baseUrl}/api/auth/login`, { method: 'POST', body: json });
    expect415({ status: login.status, headers: login.headers, text: '', body: await login.json() });
    expect(await eventsOf(login.headers)).toEqual([]);
    const created = await fetch(`${t.baseUrl}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ name: 'x', scopes: ['read:data'], durationDays: 7 }),
    });
    expect415({ status: created.status, headers: created.headers, text: '', body: await created.json() });
    // The validate route still answers it as a body it cannot read: 400, audited.
    const token = await createToken(t, user.token);
    const validated = await fetch(`${t.baseUrl}/api/mcp/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ requiredScopes: ['read:data'] }),
    });
    expect(validated.status).toBe(400);
    expect(await validated.json()).toEqual({ error: 'Requête invalide', code: 'invalid_request' });
    expect(await eventsOf(validated.headers)).toEqual([{ type: 'token.validate', outcome: 'invalid' }]);
  });

  it('the validate route answers a form body as any body it cannot read: 400 invalid_request, audited', async () => {
    const token = await createToken(t, user.token);
    const res = await postForm('/api/mcp/validate', { requiredScopes: 'read:data' }, { authorization: `Bearer ${token.token}` });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'Requête invalide', code: 'invalid_request' });
    expect(await eventsOf(res.headers)).toEqual([{ type: 'token.validate', outcome: 'invalid' }]);
  });

  it('token introspection still takes its form (client_secret_basic and client_secret_post), with a query string too', async () => {
    const token = await createToken(t, user.token);
    const basicAuth = await postForm(
      '/api/oauth/introspect',
      { token: token.token },
      { authorization: basic(client.clientId, client.clientSecret) },
    );
    expect(basicAuth.status).toBe(200);
    expect(basicAuth.body).toMatchObject({ active: true, jti: token.id, sub: user.id });
    const post = await postForm('/api/oauth/introspect?from=test', {
      token: token.token,
      client_id: client.clientId,
      client_secret: client.clientSecret,
    });
    expect(post.status).toBe(200);
    expect(post.body).toMatchObject({ active: true, jti: token.id });
    const unknown = await postForm(
      '/api/oauth/introspect',
      { token: 'not.a.token' },
      { authorization: basic(client.clientId, client.clientSecret) },
    );
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({ active: false });
  });
});
