// An account, token or MCP client change commits with its audit event, or not at all: when the
// event cannot be written, the change is not made and the caller gets an error. A trigger made
// for this test refuses the events of the types listed in its table.
import { createToken, registerClient } from '../support/mcp.js';
import { createUser, PASSWORD, startTestApp, uniqueEmail, type TestApp, type User } from '../support/test-app.js';

describe('changes and their audit events commit together', () => {
  let t: TestApp;
  let admin: User;
  let user: User;

  const refuse = async (type: string): Promise<void> => {
    await t.db.query(`INSERT INTO test_refused_audit_type (type) VALUES ($1)`, [type]);
  };
  const allow = async (): Promise<void> => {
    await t.db.query(`DELETE FROM test_refused_audit_type`);
  };
  const events = async (type: string): Promise<number> =>
    (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_event WHERE type = $1`, [type])).rows[0].n;
  const validate = async (token: string): Promise<number> =>
    (await t.request('POST', '/api/mcp/validate', { headers: { authorization: `Bearer ${token}` } })).status;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
    user = await createUser(t);
    await t.db.query(`CREATE TABLE test_refused_audit_type (type varchar PRIMARY KEY)`);
    await t.db.query(`
      CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM test_refused_audit_type WHERE type = NEW.type) THEN
          RAISE EXCEPTION 'audit event refused for the test';
        END IF;
        RETURN NEW;
      END $$`);
    await t.db.query(`CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION test_refuse_audit()`);
  });
  afterEach(allow);
  afterAll(async () => {
    await t.close();
  });

  it('token creation: no token without its event', async () => {
    const count = async () => (await t.db.query(`SELECT count(*)::int AS n FROM api_tokens WHERE user_id = $1`, [user.id])).rows[0].n;
    const before = { tokens: await count(), events: await events('token.create') };
    await refuse('token.create');
    const res = await t.request('POST', '/api/tokens', {
      token: user.token,
      body: { name: 'srv', scopes: ['read:data'], durationDays: 30 },
    });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(JSON.stringify(res.body)).not.toMatch(/eyJ/);
    expect(await count()).toBe(before.tokens);
    await allow();
    expect(
      (await t.request('POST', '/api/tokens', { token: user.token, body: { name: 'srv', scopes: ['read:data'], durationDays: 30 } }))
        .status,
    ).toBe(201);
    expect({ tokens: await count(), events: await events('token.create') }).toEqual({
      tokens: before.tokens + 1,
      events: before.events + 1,
    });
  });

  it('revocation: the token stays valid, and is revoked with its event once the event can be written', async () => {
    const token = await createToken(t, user.token);
    await refuse('token.revoke');
    expect((await t.request('DELETE', `/api/tokens/${token.id}`, { token: user.token })).status).toBeGreaterThanOrEqual(500);
    expect(await validate(token.token)).toBe(200);
    expect((await t.db.query(`SELECT revoked_at FROM api_tokens WHERE id = $1`, [token.id])).rows[0].revoked_at).toBeNull();
    expect((await t.db.query(`SELECT count(*)::int AS n FROM revocation_event WHERE subject_id = $1`, [token.id])).rows[0].n).toBe(0);
    await allow();
    expect((await t.request('DELETE', `/api/tokens/${token.id}`, { token: user.token })).status).toBe(204);
    expect(await validate(token.token)).toBe(401);
    expect(
      (await t.db.query(`SELECT count(*)::int AS n FROM audit_event WHERE type = 'token.revoke' AND token_id = $1`, [token.id])).rows[0].n,
    ).toBe(1);
  });

  it('rotation: the old token stays valid and no new one exists without the event', async () => {
    const token = await createToken(t, user.token);
    const count = async () => (await t.db.query(`SELECT count(*)::int AS n FROM api_tokens WHERE user_id = $1`, [user.id])).rows[0].n;
    const before = await count();
    await refuse('token.rotate');
    expect((await t.request('POST', `/api/tokens/${token.id}/rotate`, { token: user.token, body: {} })).status).toBeGreaterThanOrEqual(500);
    expect(await validate(token.token)).toBe(200);
    expect(await count()).toBe(before);
    await allow();
    const rotated = await t.request('POST', `/api/tokens/${token.id}/rotate`, { token: user.token, body: {} });
    expect(rotated.status).toBe(201);
    expect(await validate(token.token)).toBe(401);
    expect(await validate(rotated.body.token)).toBe(200);
  });

  it('account changes: a profile update and an admin disable are not made without their events', async () => {
    const target = await createUser(t);
    const token = await createToken(t, target.token);
    await refuse('user.update');
    expect(
      (await t.request('PATCH', '/api/users/me', { token: target.token, body: { firstname: 'Irène' } })).status,
    ).toBeGreaterThanOrEqual(500);
    expect(
      (await t.request('PATCH', `/api/users/${target.id}`, { token: admin.token, body: { disabled: true } })).status,
    ).toBeGreaterThanOrEqual(500);
    const row = (await t.db.query(`SELECT firstname, disabled_at FROM users WHERE id = $1`, [target.id])).rows[0];
    expect(row).toEqual({ firstname: 'Marie', disabled_at: null });
    expect(await validate(token.token)).toBe(200);
    await allow();
    expect((await t.request('PATCH', `/api/users/${target.id}`, { token: admin.token, body: { disabled: true } })).status).toBe(200);
    expect(await validate(token.token)).toBe(401);
    const updates = await t.db.query(`SELECT details FROM audit_event WHERE type = 'user.update' AND details->>'targetUserId' = $1`, [
      target.id,
    ]);
    expect(updates.rows.map((r) => r.details.changed)).toEqual([['disabled']]);
  });

  it('registration: no account without its event; the same address registers once the event can be written', async () => {
    const email = uniqueEmail('reg');
    const body = { email, password: PASSWORD, firstname: 'Marie', surname: 'Curie' };
    await refuse('auth.register');
    expect((await t.request('POST', '/api/auth/register', { body })).status).toBeGreaterThanOrEqual(500);
    expect((await t.db.query(`SELECT count(*)::int AS n FROM users WHERE email = $1`, [email])).rows[0].n).toBe(0);
    await allow();
    expect((await t.request('POST', '/api/auth/register', { body })).status).toBe(201);
    expect(
      (await t.db.query(`SELECT count(*)::int AS n FROM audit_event WHERE type = 'auth.register' AND details->>'email' = $1`, [email]))
        .rows[0].n,
    ).toBe(1);
  });

  it('MCP clients: no client registered, and none revoked, without the event', async () => {
    const count = async () => (await t.db.query(`SELECT count(*)::int AS n FROM mcp_client`)).rows[0].n;
    const before = await count();
    await refuse('mcp_client.create');
    expect(
      (await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: 'Serveur refusé' } })).status,
    ).toBeGreaterThanOrEqual(500);
    expect(await count()).toBe(before);
    await allow();
    const client = await registerClient(t, admin.token);
    await refuse('mcp_client.revoke');
    expect((await t.request('DELETE', `/api/mcp/clients/${client.id}`, { token: admin.token })).status).toBeGreaterThanOrEqual(500);
    expect((await t.db.query(`SELECT revoked_at FROM mcp_client WHERE id = $1`, [client.id])).rows[0].revoked_at).toBeNull();
    await allow();
    expect((await t.request('DELETE', `/api/mcp/clients/${client.id}`, { token: admin.token })).status).toBe(204);
    expect((await t.db.query(`SELECT revoked_at FROM mcp_client WHERE id = $1`, [client.id])).rows[0].revoked_at).not.toBeNull();
  });

  it('the audit chain verifies after the refused changes', async () => {
    const res = await t.request('GET', '/api/audit/verify', { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(true);
  });
});
