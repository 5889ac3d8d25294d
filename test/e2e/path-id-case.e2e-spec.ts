// Path ids written in upper case (as some tools write UUIDs): PostgreSQL matches them to the row,
// so every effect of the request must hold as with the lower-case id.
import { createToken } from '../support/mcp.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

describe('a path id written in upper case', () => {
  let t: TestApp;
  let admin: User;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
  });
  afterAll(async () => {
    await t.close();
  });

  const validate = (token: string, body?: unknown) => t.request('POST', '/api/mcp/validate', { token, body });

  it('disabling the user refuses its cached token at once', async () => {
    const user = await createUser(t);
    const apiToken = await createToken(t, user.token);
    expect((await validate(apiToken.token)).status).toBe(200); // cached now

    const res = await t.request('PATCH', `/api/users/${user.id.toUpperCase()}`, { token: admin.token, body: { disabled: true } });
    expect(res.status).toBe(200);
    expect(res.body.user.disabled).toBe(true);

    const after = await validate(apiToken.token);
    expect(after.status).toBe(401);
    expect(after.body).toEqual({ error: 'Token révoqué ou inexistant', code: 'token_revoked' });
  });

  it('demoting an auditor takes read:audit from its cached token at once', async () => {
    const auditor = await createUser(t, { role: 'auditor' });
    const apiToken = await createToken(t, auditor.token, ['read:audit']);
    expect((await validate(apiToken.token, { requiredScopes: ['read:audit'] })).status).toBe(200);
    expect((await t.request('GET', '/api/audit/events?limit=1', { token: apiToken.token })).status).toBe(200);

    const res = await t.request('PATCH', `/api/users/${auditor.id.toUpperCase()}`, { token: admin.token, body: { role: 'user' } });
    expect(res.status).toBe(200);

    expect((await validate(apiToken.token, { requiredScopes: ['read:audit'] })).status).toBe(403);
    expect((await t.request('GET', '/api/audit/events?limit=1', { token: apiToken.token })).status).toBe(403);
  });

  it('an admin cannot demote or disable their own account through the upper-case id', async () => {
    const self = await createUser(t, { role: 'admin' });
    for (const body of [{ role: 'user' }, { disabled: true }]) {
      const res = await t.request('PATCH', `/api/users/${self.id.toUpperCase()}`, { token: self.token, body });
      expect(res.status).toBe(400);
    }
    const me = await t.request('GET', '/api/users/me', { token: self.token });
    expect(me.status).toBe(200);
    expect(me.body.user.role).toBe('admin');
  });

  it('names the token in lower case, and revoking it refuses its cached state at once', async () => {
    const user = await createUser(t);
    const apiToken = await createToken(t, user.token);
    expect((await validate(apiToken.token)).status).toBe(200); // cached now
    const upper = apiToken.id.toUpperCase();
    expect(upper).not.toBe(apiToken.id);

    const shown = await t.request<any>('GET', `/api/tokens/${upper}`, { token: user.token });
    expect(shown.status).toBe(200);
    expect(shown.body.id).toBe(apiToken.id);
    expect((await t.request('DELETE', `/api/tokens/${upper}`, { token: user.token })).status).toBe(204);

    const after = await validate(apiToken.token);
    expect(after.status).toBe(401);
    expect(after.body).toEqual({ error: 'Token révoqué ou inexistant', code: 'token_revoked' });
  });
});
