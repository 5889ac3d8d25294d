// A privileged scope (read:audit) counts only while the token's owner is an auditor or an admin:
// validation, introspection and the API-token guard all answer with the scopes the token grants
// now, from the very next call after a change of role.
import { storedEvents } from '../support/audit.js';
import { basic, createToken, registerClient, type RegisteredClient } from '../support/mcp.js';
import { createUser, startTestApp, type TestApp, type User as TestUser } from '../support/test-app.js';

const INSUFFICIENT = { error: 'Scope insuffisant', code: 'insufficient_scope' };

describe('privileged scopes after a change of role', () => {
  let t: TestApp;
  let admin: TestUser;
  let client: RegisteredClient;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
    client = await registerClient(t, admin.token);
  });
  afterAll(async () => {
    await t.close();
  });

  const validate = (token: string, requiredScopes?: string[]) =>
    t.request('POST', '/api/mcp/validate', {
      token,
      ...(requiredScopes ? { body: { requiredScopes } } : {}),
    });

  async function introspectedScope(token: string): Promise<string> {
    const res = await fetch(`${t.baseUrl}/api/oauth/introspect`, {
      method: 'POST',
      headers: { authorization: basic(client.clientId, client.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    const body = (await res.json()) as { active: boolean; scope: string };
    expect(res.status).toBe(200);
    expect(body.active).toBe(true);
    return body.scope;
  }

  const setRole = async (id: string, role: string) => {
    const res = await t.request('PATCH', `/api/users/${id}`, { token: admin.token, body: { role } });
    expect(res.status).toBe(200);
    expect(res.body.user.role).toBe(role);
  };

  it("a demoted auditor's token no longer holds read:audit, from the very next validation", async () => {
    const auditor = await createUser(t, { role: 'auditor' });
    const apiToken = await createToken(t, auditor.token, ['read:audit', 'read:data']);

    // As an auditor's: granted, and the answer (cached for this token state) lists it.
    const before = await validate(apiToken.token, ['read:audit']);
    expect(before.status).toBe(200);
    expect(before.body.scopes).toEqual(['read:audit', 'read:data']);
    expect(before.body.token.scopes).toEqual(['read:audit', 'read:data']);
    expect((await validate(apiToken.token)).body.scopes).toEqual(['read:audit', 'read:data']);
    expect(await introspectedScope(apiToken.token)).toBe('read:audit read:data');

    await setRole(auditor.id, 'user');

    const refused = await validate(apiToken.token, ['read:audit']);
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ ...INSUFFICIENT, requiredScopes: ['read:audit'], scopes: ['read:data'] });
    expect(refused.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="read:audit"');
    const [event] = (await storedEvents(t)).filter((e) => e.requestId === refused.headers.get('x-request-id'));
    expect(event).toMatchObject({ type: 'token.validate', outcome: 'insufficient_scope', tokenId: apiToken.id });

    const plain = await validate(apiToken.token);
    expect(plain.status).toBe(200);
    expect(plain.body.scopes).toEqual(['read:data']);
    expect(plain.body.token.scopes).toEqual(['read:data']);
    expect(plain.text).not.toContain('read:audit');
    expect((await validate(apiToken.token, ['read:data'])).status).toBe(200);

    expect(await introspectedScope(apiToken.token)).toBe('read:data');
    expect((await t.request('GET', '/api/audit/verify', { token: apiToken.token })).status).toBe(403);
  });

  it('promoted again, the same token holds read:audit again', async () => {
    const auditor = await createUser(t, { role: 'auditor' });
    const apiToken = await createToken(t, auditor.token, ['read:audit']);
    expect((await validate(apiToken.token, ['read:audit'])).status).toBe(200);

    await setRole(auditor.id, 'user');
    const demoted = await validate(apiToken.token, ['read:audit']);
    expect(demoted.status).toBe(403);
    expect(demoted.body.scopes).toEqual([]);
    expect((await validate(apiToken.token)).body.scopes).toEqual([]);

    await setRole(auditor.id, 'admin');
    const promoted = await validate(apiToken.token, ['read:audit']);
    expect(promoted.status).toBe(200);
    expect(promoted.body.scopes).toEqual(['read:audit']);
    expect((await t.request('GET', '/api/audit/verify', { token: apiToken.token })).status).toBe(200);
  });
});
