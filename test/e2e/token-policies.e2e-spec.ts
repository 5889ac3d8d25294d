// Admin token policies (docs/governance.md): GET/PUT /api/admin/policies, enforced on every token
// created or rotated; applied to the existing tokens only when asked (applyToExisting), which
// revokes those that do not comply with the reason `policy`, each revocation audited.
import { SseReader, basic, idsOf, registerClient, revoked } from '../support/mcp.js';
import { createUser, startTestApp, type HttpAnswer, type TestApp, type User } from '../support/test-app.js';

const OPEN = { maxLifetimeDays: 365, restrictedScopes: {}, allowlistRequiredForWrite: false };

describe('token policies', () => {
  let t: TestApp;
  let admin: User;
  let auditor: User;
  let user: User;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
    auditor = await createUser(t, { role: 'auditor' });
    user = await createUser(t);
  });
  afterAll(async () => {
    await t?.close();
  });
  afterEach(async () => {
    expect((await put(OPEN)).status).toBe(200);
  });

  const put = (body: unknown, session = admin.token) => t.request('PUT', '/api/admin/policies', { token: session, body });
  const create = (session: string, body: Record<string, unknown>) =>
    t.request('POST', '/api/tokens', { token: session, body: { name: 'mcp', scopes: ['read:data'], durationDays: 30, ...body } });
  const validate = (token: string) => t.request('POST', '/api/mcp/validate', { token });
  async function eventsOf(answer: HttpAnswer): Promise<Record<string, any>[]> {
    const { rows } = await t.db.query(
      `SELECT type, outcome, token_id, actor_user_id, details FROM audit_event WHERE request_id = $1 ORDER BY id`,
      [answer.headers.get('x-request-id')],
    );
    return rows;
  }

  it('the defaults: 365 days, no restricted scope, no allowlist required; admins only', async () => {
    const res = await t.request('GET', '/api/admin/policies', { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ...OPEN, writeScopes: ['write:data', 'write:bookings'] });
    for (const who of [auditor, user]) {
      expect((await t.request('GET', '/api/admin/policies', { token: who.token })).status).toBe(403);
      expect((await put(OPEN, who.token)).status).toBe(403);
    }
  });

  it('a change is audited as policy.change with the rules before and after', async () => {
    const rules = { maxLifetimeDays: 90, restrictedScopes: { 'write:data': ['admin'] }, allowlistRequiredForWrite: true };
    const res = await put(rules);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ...rules, revokedTokens: 0, updatedBy: admin.id });
    const [event] = await eventsOf(res);
    expect(event).toMatchObject({ type: 'policy.change', outcome: 'success', actor_user_id: admin.id });
    expect(event.details).toEqual({ before: OPEN, after: rules, applyToExisting: false, revokedTokens: 0 });
    expect((await t.request('GET', '/api/admin/policies', { token: admin.token })).body).toMatchObject(rules);
  });

  it('bad policies are 400 naming the field', async () => {
    for (const [body, field] of [
      [{ ...OPEN, maxLifetimeDays: 0 }, 'maxLifetimeDays'],
      [{ ...OPEN, maxLifetimeDays: 366 }, 'maxLifetimeDays'],
      [{ ...OPEN, restrictedScopes: { 'write:everything': ['admin'] } }, 'restrictedScopes'],
      [{ ...OPEN, restrictedScopes: { 'write:data': [] } }, 'restrictedScopes'],
      [{ ...OPEN, restrictedScopes: { 'write:data': ['chef'] } }, 'restrictedScopes'],
      [{ ...OPEN, restrictedScopes: [] }, 'restrictedScopes'],
      [{ ...OPEN, allowlistRequiredForWrite: 'yes' }, 'allowlistRequiredForWrite'],
      [{ maxLifetimeDays: 30 }, 'restrictedScopes'],
    ] as const) {
      const res = await put(body);
      expect([field, res.status, res.body.code]).toEqual([field, 400, 'validation_failed']);
      expect(res.body.fields.map((f: { field: string }) => f.field)).toContain(field);
    }
  });

  it('enforced on create: maximum lifetime (400), restricted scopes (403), allowlist for write scopes (400)', async () => {
    expect(
      (await put({ maxLifetimeDays: 30, restrictedScopes: { 'write:bookings': ['auditor', 'admin'] }, allowlistRequiredForWrite: true }))
        .status,
    ).toBe(200);

    const tooLong = await create(user.token, { durationDays: 31 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toMatchObject({ code: 'policy_max_lifetime', maxLifetimeDays: 30, fields: [{ field: 'durationDays' }] });
    expect(tooLong.body.error).toMatch(/30 jours/);
    expect((await create(user.token, { durationDays: 30 })).status).toBe(201);

    const restricted = await create(user.token, { scopes: ['write:bookings'], allowedIps: ['10.0.0.0/8'] });
    expect(restricted.status).toBe(403);
    expect(restricted.body).toMatchObject({ code: 'policy_scope_restricted', fields: [{ field: 'scopes' }] });
    expect(restricted.body.error).toMatch(/write:bookings/);
    expect((await create(auditor.token, { scopes: ['write:bookings'], allowedIps: ['10.0.0.0/8'] })).status).toBe(201);

    const noList = await create(user.token, { scopes: ['read:data', 'write:data'] });
    expect(noList.status).toBe(400);
    expect(noList.body).toMatchObject({ code: 'policy_allowlist_required', fields: [{ field: 'allowedIps' }] });
    expect((await create(user.token, { scopes: ['read:data', 'write:data'], allowedIps: ['192.0.2.0/24'] })).status).toBe(201);
    expect((await create(user.token, { scopes: ['read:data'] })).status).toBe(201);
  });

  it('enforced on rotation and on a PATCH that would remove a required list', async () => {
    const long = await create(user.token, { durationDays: 200 });
    const writer = await create(user.token, { scopes: ['write:data'], allowedIps: ['192.0.2.0/24'] });
    expect((await put({ maxLifetimeDays: 30, restrictedScopes: {}, allowlistRequiredForWrite: true })).status).toBe(200);

    // The default lifetime of a rotation stays within the maximum; a longer one asked for is refused.
    const tooLong = await t.request('POST', `/api/tokens/${long.body.id}/rotate`, { token: user.token, body: { durationDays: 60 } });
    expect([tooLong.status, tooLong.body.code]).toEqual([400, 'policy_max_lifetime']);
    const rotated = await t.request('POST', `/api/tokens/${long.body.id}/rotate`, { token: user.token, body: {} });
    expect(rotated.status).toBe(201);
    expect(Date.parse(rotated.body.expiresAt) - Date.parse(rotated.body.createdAt)).toBe(30 * 86_400_000);

    const removed = await t.request('PATCH', `/api/tokens/${writer.body.id}`, { token: user.token, body: { allowedIps: null } });
    expect([removed.status, removed.body.code]).toEqual([400, 'policy_allowlist_required']);
    expect((await t.request('PATCH', `/api/tokens/${writer.body.id}`, { token: user.token, body: { name: 'renommé' } })).status).toBe(200);
  });

  it('without applyToExisting, tokens that no longer comply keep working until they expire', async () => {
    const long = await create(user.token, { durationDays: 300 });
    const writer = await create(user.token, { scopes: ['write:data'] });
    const res = await put({ maxLifetimeDays: 30, restrictedScopes: {}, allowlistRequiredForWrite: true });
    expect(res.body.revokedTokens).toBe(0);
    expect((await validate(long.body.token)).status).toBe(200);
    expect((await validate(writer.body.token)).status).toBe(200);
  });

  it('applyToExisting revokes the active tokens that do not comply, with the reason policy, each audited; the others keep working', async () => {
    const mcp = await registerClient(t, admin.token, 'Serveur MCP à l’écoute');
    const stream = await SseReader.open(`${t.baseUrl}/api/mcp/revocations`, { authorization: basic(mcp.clientId, mcp.clientSecret) });
    try {
      await stream.until((events) => events.some((e) => e.event === 'ready'));
      const long = await create(user.token, { durationDays: 300 });
      const writer = await create(user.token, { scopes: ['write:data'] });
      const restricted = await create(user.token, { scopes: ['read:bookings'] });
      const byAdmin = await create(admin.token, { scopes: ['read:bookings'] });
      // Loopback: the address this test calls validate from.
      const fine = await create(user.token, { durationDays: 30, scopes: ['read:data', 'write:data'], allowedIps: ['127.0.0.0/8', '::1'] });
      // The policy is about new tokens first: these stay valid until it is applied.
      const compliant = [byAdmin, fine];
      const breaking = [long, writer, restricted];
      for (const c of [...breaking, ...compliant]) expect((await validate(c.body.token)).status).toBe(200);

      const res = await put({
        maxLifetimeDays: 30,
        restrictedScopes: { 'read:bookings': ['admin'] },
        allowlistRequiredForWrite: true,
        applyToExisting: true,
      });
      expect(res.status).toBe(200);
      expect(res.body.revokedTokens).toBeGreaterThanOrEqual(breaking.length);

      for (const c of breaking) {
        const answer = await validate(c.body.token);
        expect([answer.status, answer.body.code]).toEqual([401, 'token_revoked']);
        const listed = await t.request('GET', `/api/tokens/${c.body.id}`, { token: user.token });
        expect(listed.body).toMatchObject({ status: 'revoked', revokedReason: 'policy' });
      }
      for (const c of compliant) expect((await validate(c.body.token)).status).toBe(200);

      const events = await eventsOf(res);
      const revocations = events.filter((e) => e.type === 'token.revoke');
      expect(revocations).toHaveLength(res.body.revokedTokens);
      for (const c of breaking) {
        expect(revocations.find((e) => e.token_id === c.body.id)).toMatchObject({
          outcome: 'success',
          actor_user_id: admin.id,
          details: { reason: 'policy', ownerId: user.id },
        });
      }
      const change = events.find((e) => e.type === 'policy.change');
      expect(change?.details).toMatchObject({ applyToExisting: true, revokedTokens: res.body.revokedTokens });

      // MCP servers following the revocation stream hear of each one.
      await stream.until((events) => breaking.every((c) => revoked(events).some((e) => idsOf(e).includes(c.body.id))));
    } finally {
      stream.close();
    }
  });
});
