// Registered MCP servers (POST/GET/DELETE /api/mcp/clients) and RFC 7662
// token introspection (POST /api/oauth/introspect) with their credentials.
import { createHash } from 'node:crypto';
import { storedEvents } from '../support/audit.js';
import { basic, createToken, registerClient, type RegisteredClient } from '../support/mcp.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';


describe('MCP clients and token introspection', () => {
  let t: TestApp;
  let admin: User;
  let user: User;
  let client: RegisteredClient;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
    user = await createUser(t);
    client = await registerClient(t, admin.token, 'Serveur FastMCP rendez-vous');
  });
  afterAll(async () => {
    await t.close();
  });

  async function introspect(
    form: Record<string, string>,
    options: { authorization?: string; contentType?: string; raw?: string } = {},
  ): Promise<{ status: number; headers: Headers; body: any }> {
    const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/x-www-form-urlencoded' };
    if (options.authorization !== undefined) headers.authorization = options.authorization;
    const res = await fetch(`${t.baseUrl}/api/oauth/introspect`, { method: 'POST', headers, body: options.raw ?? new URLSearchParams(form).toString() });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  }

  const asClient = (c: RegisteredClient = client) => ({ authorization: basic(c.clientId, c.clientSecret) });

  describe('registration by admins', () => {
    it('creates a client whose secret is shown once and stored as a SHA-256', async () => {
      const res = await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: '  Serveur SDK  ' } });
      expect(res.status).toBe(201);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('location')).toBe(`/api/mcp/clients/${res.body.id}`);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        clientId: expect.stringMatching(/^mcp_[A-Za-z0-9_-]{16}$/),
        clientSecret: expect.stringMatching(/^mcps_[A-Za-z0-9_-]{43}$/),
        name: 'Serveur SDK',
        createdBy: admin.id,
        createdAt: expect.any(String),
        revokedAt: null,
        lastUsedAt: null,
        status: 'active',
        resourceUri: null,
        acceptedScopes: ['read:data', 'write:data', 'read:bookings', 'write:bookings', 'read:audit'],
      });
      const { rows } = await t.db.query(`SELECT * FROM mcp_client WHERE id = $1`, [res.body.id]);
      expect(rows[0].secret_hash).toBe(createHash('sha256').update(res.body.clientSecret).digest('hex'));
      expect(JSON.stringify(rows[0])).not.toContain(res.body.clientSecret);

      const list = await t.request('GET', '/api/mcp/clients', { token: admin.token });
      expect(list.status).toBe(200);
      const listed = list.body.items.find((c: { id: string }) => c.id === res.body.id);
      expect(listed).toEqual({ ...res.body, clientSecret: undefined });
      expect(list.text).not.toContain('mcps_');
      expect(list.body.items[0].id).toBe(res.body.id);

      const events = (await storedEvents(t)).filter((e) => e.type === 'mcp_client.create' && e.details.id === res.body.id);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ outcome: 'success', actorUserId: admin.id, details: { clientId: res.body.clientId, name: 'Serveur SDK' } });
      expect(JSON.stringify(events[0])).not.toContain(res.body.clientSecret);
    });

    it('is for admins only', async () => {
      const auditor = await createUser(t, { role: 'auditor' });
      for (const who of [user.token, auditor.token]) {
        expect((await t.request('POST', '/api/mcp/clients', { token: who, body: { name: 'x' } })).status).toBe(403);
        expect((await t.request('GET', '/api/mcp/clients', { token: who })).status).toBe(403);
        expect((await t.request('DELETE', `/api/mcp/clients/${client.id}`, { token: who })).status).toBe(403);
      }
      expect((await t.request('GET', '/api/mcp/clients')).status).toBe(401);
      const apiToken = await createToken(t, user.token, ['read:data']);
      expect((await t.request('GET', '/api/mcp/clients', { token: apiToken.token })).status).toBe(401);
    });

    it('names the bad field of a bad body', async () => {
      for (const body of [{}, { name: '' }, { name: 'x'.repeat(101) }, { name: 'ok', extra: 1 }]) {
        const res = await t.request('POST', '/api/mcp/clients', { token: admin.token, body });
        expect(res.status).toBe(400);
        expect(res.body.code).toBe('validation_failed');
        expect(res.body.fields.length).toBeGreaterThan(0);
      }
    });

    it('revokes (twice is still 204), refuses unknown and malformed ids', async () => {
      const c = await registerClient(t, admin.token, 'à révoquer');
      expect((await introspect({ token: 'x' }, asClient(c))).status).toBe(200);
      expect((await t.request('DELETE', `/api/mcp/clients/${c.id}`, { token: admin.token })).status).toBe(204);
      expect((await t.request('DELETE', `/api/mcp/clients/${c.id}`, { token: admin.token })).status).toBe(204);
      const res = await introspect({ token: 'x' }, asClient(c));
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed' });
      const list = await t.request('GET', '/api/mcp/clients', { token: admin.token });
      expect(list.body.items.find((x: { id: string }) => x.id === c.id)).toMatchObject({ status: 'revoked', revokedAt: expect.any(String) });
      expect((await t.request('DELETE', `/api/mcp/clients/3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a`, { token: admin.token })).status).toBe(404);
      expect((await t.request('DELETE', `/api/mcp/clients/not-a-uuid`, { token: admin.token })).status).toBe(400);
      const outcomes = (await storedEvents(t)).filter((e) => e.type === 'mcp_client.revoke' && e.details.id === c.id).map((e) => e.outcome);
      expect(outcomes).toEqual(['success', 'already_revoked']);
    });
  });

  describe('POST /api/oauth/introspect', () => {
    it('answers an active token with its claims (client_secret_basic)', async () => {
      const tok = await createToken(t, user.token, ['read:data', 'write:bookings']);
      const res = await introspect({ token: tok.token, token_type_hint: 'access_token' }, asClient());
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const payload = JSON.parse(Buffer.from(tok.token.split('.')[1], 'base64url').toString('utf8'));
      expect(res.body).toEqual({
        active: true,
        scope: 'read:data write:bookings',
        client_id: tok.id,
        sub: user.id,
        username: user.email,
        token_type: 'Bearer',
        exp: payload.exp,
        iat: payload.iat,
        jti: tok.id,
        iss: 'hospiai',
        aud: ['hospiai:api'],
      });
    });

    it('accepts client_secret_post', async () => {
      const tok = await createToken(t, user.token);
      const res = await introspect({ token: tok.token, client_id: client.clientId, client_secret: client.clientSecret });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ active: true, jti: tok.id, scope: 'read:data' });
    });

    it('says only active:false for an expired, revoked, unknown or malformed token, or one whose owner is disabled', async () => {
      const expired = await createToken(t, user.token);
      await t.db.query(`UPDATE api_tokens SET created_at = now() - interval '10 days', expires_at = now() - interval '1 second' WHERE id = $1`, [
        expired.id,
      ]);
      const revoked = await createToken(t, user.token);
      expect((await t.request('DELETE', `/api/tokens/${revoked.id}`, { token: user.token })).status).toBe(204);
      const unknown = await createToken(t, user.token);
      await t.db.query(`DELETE FROM api_tokens WHERE id = $1`, [unknown.id]);
      const owner = await createUser(t);
      const ofDisabled = await createToken(t, owner.token);
      expect((await t.request('PATCH', `/api/users/${owner.id}`, { token: admin.token, body: { disabled: true } })).status).toBe(200);

      for (const token of [expired.token, revoked.token, unknown.token, ofDisabled.token, 'not-a-jwt', user.token /* a session JWT */]) {
        const res = await introspect({ token }, asClient());
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ active: false });
        expect(Object.keys(res.body)).toEqual(['active']);
      }
    });

    it('refuses bad client credentials with 401 and a Basic challenge, whatever the token', async () => {
      const tok = await createToken(t, user.token);
      const cases: Array<{ form: Record<string, string>; authorization?: string }> = [
        { form: { token: tok.token } },
        { form: { token: tok.token }, authorization: basic(client.clientId, 'mcps_wrong') },
        { form: { token: tok.token }, authorization: basic('mcp_unknown', client.clientSecret) },
        { form: { token: tok.token }, authorization: 'Basic !!!' },
        { form: { token: tok.token }, authorization: `Bearer ${tok.token}` },
        { form: { token: tok.token, client_id: client.clientId, client_secret: 'nope' } },
        { form: { token: tok.token, client_id: client.clientId } },
      ];
      for (const c of cases) {
        const res = await introspect(c.form, { authorization: c.authorization });
        expect([c, res.status]).toEqual([c, 401]);
        expect(res.body).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed' });
        expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="hospiai"/);
        expect(JSON.stringify(res.body)).not.toContain('active');
      }
    });

    it('refuses malformed requests with 400 invalid_request', async () => {
      const tok = await createToken(t, user.token);
      const both = await introspect({ token: tok.token, client_id: client.clientId, client_secret: client.clientSecret }, asClient());
      expect(both.status).toBe(400);
      expect(both.body.error).toBe('invalid_request');
      expect((await introspect({}, asClient())).body).toEqual({ error: 'invalid_request', error_description: 'token is required, once' });
      expect((await introspect({}, { ...asClient(), raw: `token=${tok.token}&token=${tok.token}` })).status).toBe(400);
      const json = await introspect({}, { ...asClient(), contentType: 'application/json', raw: JSON.stringify({ token: tok.token }) });
      expect(json.status).toBe(400);
      expect(json.body.error).toBe('invalid_request');
    });

    it('audits a call that uses two client authentication methods, answered 400', async () => {
      const tok = await createToken(t, user.token);
      const before = (await storedEvents(t)).length;
      const both = await introspect({ token: tok.token, client_id: client.clientId, client_secret: client.clientSecret }, asClient());
      expect(both.status).toBe(400);
      expect(both.body).toEqual({ error: 'invalid_request', error_description: 'Use one client authentication method only' });
      const events = (await storedEvents(t)).slice(before);
      expect(events.map((e) => [e.type, e.outcome, e.details.reason])).toEqual([['token.introspect', 'invalid_client', 'two_authentication_methods']]);
      expect(JSON.stringify(events[0])).not.toContain(client.clientSecret);
      expect(JSON.stringify(events[0])).not.toContain(tok.token);
    });

    it('refuses a body over the limit', async () => {
      const res = await introspect({}, { ...asClient(), raw: `token=${'a'.repeat(70 * 1024)}` });
      expect(res.status).toBe(413);
    });

    it('audits each call as token.introspect, names the client, never the token, and records the last use', async () => {
      const tok = await createToken(t, user.token);
      const before = (await storedEvents(t)).length;
      expect((await introspect({ token: tok.token }, asClient())).body.active).toBe(true);
      expect((await t.request('DELETE', `/api/tokens/${tok.id}`, { token: user.token })).status).toBe(204);
      expect((await introspect({ token: tok.token }, asClient())).body.active).toBe(false);
      expect((await introspect({ token: tok.token }, { authorization: basic(client.clientId, 'wrong') })).status).toBe(401);
      const events = (await storedEvents(t)).slice(before).filter((e) => e.type === 'token.introspect');
      expect(events.map((e) => [e.type, e.outcome])).toEqual([
        ['token.introspect', 'valid'],
        ['token.introspect', 'revoked'],
        ['token.introspect', 'invalid_client'],
      ]);
      expect(events[0]).toMatchObject({ tokenId: tok.id, actorUserId: user.id, details: { clientId: client.clientId } });
      expect(events[2]).toMatchObject({ tokenId: null, details: { reason: 'bad_credentials', clientId: client.clientId } });
      for (const e of events) expect(JSON.stringify(e)).not.toContain(tok.token);
      for (const e of events) expect(JSON.stringify(e)).not.toContain(client.clientSecret);
      const { rows } = await t.db.query(`SELECT last_used_at FROM api_tokens WHERE id = $1`, [tok.id]);
      expect(rows[0].last_used_at).not.toBeNull();
      const listed = (await t.request('GET', '/api/mcp/clients', { token: admin.token })).body.items.find((c: { id: string }) => c.id === client.id);
      expect(listed.lastUsedAt).not.toBeNull();
    });

    it('never writes a secret given as the client id (the pair swapped) to an audit event or the log', async () => {
      const tok = await createToken(t, user.token);
      const before = (await storedEvents(t)).length;
      const logsBefore = t.logs.length;
      const swapped = basic(client.clientSecret, client.clientId);
      expect((await introspect({ token: tok.token }, { authorization: swapped })).status).toBe(401);
      expect((await introspect({ token: tok.token, client_id: client.clientSecret, client_secret: client.clientId })).status).toBe(401);
      const stream = await fetch(`${t.baseUrl}/api/mcp/revocations`, { headers: { authorization: swapped } });
      await stream.text();
      expect(stream.status).toBe(401);
      const events = (await storedEvents(t)).slice(before).filter((e) => e.type === 'token.introspect');
      expect(events.map((e) => e.details)).toEqual([
        { reason: 'bad_credentials', clientIdMalformed: true, method: 'client_secret_basic' },
        { reason: 'bad_credentials', clientIdMalformed: true, method: 'client_secret_post' },
      ]);
      const secret = client.clientSecret.slice('mcps_'.length);
      for (const e of events) expect(JSON.stringify(e)).not.toContain(secret);
      expect(t.logs.slice(logsBefore).some((line) => line.includes('revocation stream refused'))).toBe(true);
      expect(t.logs.slice(logsBefore).join('\n')).not.toContain(secret);
    });

    it('leaves POST /api/mcp/validate as it was', async () => {
      const tok = await createToken(t, user.token);
      const res = await t.request('POST', '/api/mcp/validate', { token: tok.token });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ valid: true, token: { id: tok.id } });
      const form = await fetch(`${t.baseUrl}/api/mcp/validate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tok.token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'requiredScopes=read:data',
      });
      expect(form.status).toBe(400);
    });
  });
});
