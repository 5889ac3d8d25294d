// Disabling an account ends its credentials for good: an admin disables an account, then enables
// it again, and neither the tokens nor the sessions issued before the disable work any more.
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

describe('disabling an account ends its tokens and sessions for good', () => {
  let t: TestApp;
  let admin: User;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
  });
  afterAll(async () => {
    await t.close();
  });

  const validate = (token: string) => t.request('POST', '/api/mcp/validate', { token });
  const setDisabled = (id: string, disabled: boolean) => t.request('PATCH', `/api/users/${id}`, { token: admin.token, body: { disabled } });
  const login = (u: User) => t.request('POST', '/api/auth/login', { body: { email: u.email, password: u.password } });

  async function newToken(u: User, name: string): Promise<{ id: string; token: string }> {
    const res = await t.request('POST', '/api/tokens', { token: u.token, body: { name, scopes: ['read:data'], durationDays: 30 } });
    expect(res.status).toBe(201);
    return res.body;
  }

  it('disable, then enable: the old tokens stay refused and listed as revoked (owner_disabled), the old session stays refused', async () => {
    const user = await createUser(t);
    const first = await newToken(user, 'serveur A');
    const second = await newToken(user, 'serveur B');
    const gone = await newToken(user, 'déjà révoqué');
    expect((await t.request('DELETE', `/api/tokens/${gone.id}`, { token: user.token })).status).toBe(204);
    expect((await validate(first.token)).status).toBe(200);
    expect((await validate(second.token)).status).toBe(200);
    // Warm the validation cache: the disable must drop the cached state too.
    expect((await validate(first.token)).status).toBe(200);

    expect((await setDisabled(user.id, true)).status).toBe(200);
    expect((await validate(first.token)).body.code).toBe('token_revoked');
    expect((await t.request('GET', '/api/users/me', { token: user.token })).status).toBe(401);

    expect((await setDisabled(user.id, false)).status).toBe(200);

    // The tokens issued before the disable stay refused.
    for (const old of [first, second]) {
      const res = await validate(old.token);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'Token révoqué ou inexistant', code: 'token_revoked' });
    }
    // The session opened before the disable stays refused.
    expect((await t.request('GET', '/api/users/me', { token: user.token })).status).toBe(401);
    expect((await t.request('GET', '/api/tokens', { token: user.token })).status).toBe(401);

    // A new login works, and shows the old tokens as revoked, with the reason.
    const fresh = await login(user);
    expect(fresh.status).toBe(200);
    const session = fresh.body.accessToken as string;
    const list = await t.request('GET', '/api/tokens', { token: session });
    expect(list.status).toBe(200);
    const byId = new Map(list.body.items.map((i: { id: string }) => [i.id, i]));
    for (const old of [first, second]) {
      expect(byId.get(old.id)).toMatchObject({ status: 'revoked', revokedReason: 'owner_disabled', revokedAt: expect.any(String) });
    }
    // A token revoked before the disable keeps its own reason and time.
    expect(byId.get(gone.id)).toMatchObject({ status: 'revoked', revokedReason: 'revoked' });
    // The account works again with new credentials.
    const created = await newToken({ ...user, token: session }, 'serveur C');
    expect((await validate(created.token)).status).toBe(200);
    expect((await t.request('GET', `/api/tokens/${created.id}`, { token: session })).body).toMatchObject({
      status: 'active',
      revokedReason: null,
    });
  });

  it('revokes the tokens in the same transaction as the disable and its audit event, which counts them', async () => {
    const user = await createUser(t);
    const a = await newToken(user, 'a');
    const b = await newToken(user, 'b');
    expect((await setDisabled(user.id, true)).status).toBe(200);
    const { rows } = await t.db.query(
      `SELECT t.id, t.revoked_at, t.revoked_reason, u.disabled_at, u.session_epoch
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.user_id = $1 ORDER BY t.id`,
      [user.id],
    );
    expect(rows.map((r) => r.id)).toEqual([a.id, b.id].sort());
    for (const r of rows) {
      expect(r.revoked_reason).toBe('owner_disabled');
      expect(r.session_epoch).toBe(1);
      // now() of one transaction: the very time the account was disabled.
      expect(r.revoked_at.getTime()).toBeGreaterThanOrEqual(r.disabled_at.getTime() - 1000);
    }
    const events = await t.db.query(
      `SELECT details FROM audit_event WHERE type = 'user.update' AND details->>'targetUserId' = $1 ORDER BY id DESC LIMIT 1`,
      [user.id],
    );
    expect(events.rows[0].details).toMatchObject({ changed: ['disabled'], disabled: true, revokedTokens: 2 });
  });

  it('a token rotation or creation racing the disable issues no token that works once the account is enabled again', async () => {
    const user = await createUser(t);
    const old = await newToken(user, 'à tourner');
    const [rotated, created] = await Promise.all([
      t.request('POST', `/api/tokens/${old.id}/rotate`, { token: user.token, body: {} }),
      t.request('POST', '/api/tokens', { token: user.token, body: { name: 'course', scopes: ['read:data'], durationDays: 1 } }),
      setDisabled(user.id, true),
    ]);
    expect((await setDisabled(user.id, false)).status).toBe(200);
    for (const res of [rotated, created]) {
      if (res.status === 201) expect((await validate(res.body.token)).status).toBe(401);
      else expect(res.status).toBe(401);
    }
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL`, [user.id]);
    expect(rows[0].n).toBe(0);
  });
});
