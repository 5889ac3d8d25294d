// API tokens (docs/api.md, "API tokens"): creation, the JWT itself, what is stored, input
// rules, listing, owner/admin access, revocation and rotation.
import { randomUUID } from 'node:crypto';
import { keyIdOf } from '../../src/auth/key-ring.js';
import { decodeJwt, sha256Hex, signedWith } from '../support/jwt.js';
import { createUser, startTestApp, TEST_JWT_SECRET, type TestApp, type User } from '../support/test-app.js';
import { UUID } from '../support/formats.js';

const DAY_MS = 86_400_000;
const CREATED_KEYS = ['allowedIps', 'audience', 'createdAt', 'expiresAt', 'id', 'name', 'scopes', 'token'];
const VIEW_KEYS = ['allowedIps', 'audience', 'createdAt', 'expiresAt', 'id', 'lastUsedAt', 'lastUsedIp', 'name', 'revokedAt', 'revokedReason', 'scopes', 'status', 'viaClient'];

describe('API tokens', () => {
  let t: TestApp;
  let alice: User;
  let bob: User;
  let auditor: User;
  let admin: User;

  beforeAll(async () => {
    t = await startTestApp();
    alice = await createUser(t);
    bob = await createUser(t);
    auditor = await createUser(t, { role: 'auditor' });
    admin = await createUser(t, { role: 'admin' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const create = (user: User, body: unknown) => t.request('POST', '/api/tokens', { token: user.token, body });
  const validate = (token: string) => t.request('POST', '/api/mcp/validate', { token });
  const tokenCount = async () => Number((await t.db.query(`SELECT count(*) AS n FROM api_tokens`)).rows[0].n);

  async function newToken(user: User, body: Record<string, unknown> = {}) {
    const res = await create(user, { name: 'Serveur FastMCP', scopes: ['read:data'], durationDays: 30, ...body });
    expect(res.status).toBe(201);
    return res.body as { id: string; name: string; scopes: string[]; createdAt: string; expiresAt: string; token: string };
  }

  describe('GET /api/tokens/scopes', () => {
    it('lists the scope catalogue with French descriptions', async () => {
      const res = await t.request('GET', '/api/tokens/scopes', { token: alice.token });
      expect(res.status).toBe(200);
      expect(res.body.map((s: { scope: string }) => s.scope)).toEqual([
        'read:data',
        'write:data',
        'read:bookings',
        'write:bookings',
        'read:audit',
      ]);
      for (const s of res.body) {
        expect(Object.keys(s).sort()).toEqual(['description', 'scope']);
        expect(typeof s.description).toBe('string');
        expect(s.description.length).toBeGreaterThan(0);
      }
    });

    it('needs a session', async () => {
      const res = await t.request('GET', '/api/tokens/scopes');
      expect(res.status).toBe(401);
    });
  });

  describe('POST /api/tokens', () => {
    it('answers 201 with the token once, a Location header and expiresAt = createdAt + durationDays', async () => {
      const before = Math.floor(Date.now() / 1000) * 1000;
      const res = await create(alice, { name: 'Serveur FastMCP production', scopes: ['read:data', 'write:bookings'], durationDays: 90 });
      const after = Date.now();
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(CREATED_KEYS);
      expect(res.body.id).toMatch(UUID);
      expect(res.body.name).toBe('Serveur FastMCP production');
      expect(res.body.scopes).toEqual(['read:data', 'write:bookings']);
      expect(res.headers.get('location')).toBe(`/api/tokens/${res.body.id}`);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const createdAt = Date.parse(res.body.createdAt);
      expect(new Date(createdAt).toISOString()).toBe(res.body.createdAt);
      expect(createdAt).toBeGreaterThanOrEqual(before);
      expect(createdAt).toBeLessThanOrEqual(after);
      expect(Date.parse(res.body.expiresAt) - createdAt).toBe(90 * DAY_MS);

      const got = await t.request('GET', res.headers.get('location')!, { token: alice.token });
      expect(got.status).toBe(200);
      expect(got.body.id).toBe(res.body.id);
    });

    it('issues an HS256 JWT with kid, iss, sub, jti, scopes, iat, exp and token_use api', async () => {
      const created = await newToken(alice, { scopes: ['read:bookings', 'write:data'], durationDays: 7 });
      const { header, payload } = decodeJwt(created.token);
      expect(header).toEqual({ alg: 'HS256', typ: 'JWT', kid: keyIdOf(Buffer.from(TEST_JWT_SECRET)) });
      expect(payload).toEqual({
        iss: 'hospiai',
        aud: 'hospiai:api',
        sub: alice.id,
        jti: created.id,
        scopes: ['read:bookings', 'write:data'],
        iat: Date.parse(created.createdAt) / 1000,
        exp: Date.parse(created.expiresAt) / 1000,
        token_use: 'api',
      });
      expect(signedWith(created.token, TEST_JWT_SECRET)).toBe(true);
    });

    it('stores the SHA-256 fingerprint of the token, and the token in no column', async () => {
      const created = await newToken(alice);
      const { rows } = await t.db.query(`SELECT fingerprint, row_to_json(t)::text AS json FROM api_tokens t WHERE id = $1`, [created.id]);
      expect(rows).toHaveLength(1);
      expect(rows[0].fingerprint).toBe(sha256Hex(created.token));
      const [, payload, signature] = created.token.split('.');
      expect(rows[0].json).not.toContain(created.token);
      expect(rows[0].json).not.toContain(payload);
      expect(rows[0].json).not.toContain(signature);
    });

    it('accepts the bounds: name of 100 characters, durationDays 1 and 365, every ordinary scope', async () => {
      const long = await newToken(alice, { name: 'n'.repeat(100), durationDays: 1 });
      expect(long.name).toBe('n'.repeat(100));
      expect(Date.parse(long.expiresAt) - Date.parse(long.createdAt)).toBe(DAY_MS);
      const year = await newToken(alice, { durationDays: 365, scopes: ['read:data', 'write:data', 'read:bookings', 'write:bookings'] });
      expect(Date.parse(year.expiresAt) - Date.parse(year.createdAt)).toBe(365 * DAY_MS);
      expect(year.scopes).toEqual(['read:data', 'write:data', 'read:bookings', 'write:bookings']);
    });

    it('trims the name', async () => {
      const created = await newToken(alice, { name: '  Serveur de test  ' });
      expect(created.name).toBe('Serveur de test');
    });

    const valid = { name: 'Serveur FastMCP', scopes: ['read:data'], durationDays: 30 };
    const without = (key: keyof typeof valid) => Object.fromEntries(Object.entries(valid).filter(([k]) => k !== key));
    const badBodies: [string, unknown, string][] = [
      ['durationDays 0', { ...valid, durationDays: 0 }, 'durationDays'],
      ['durationDays 366', { ...valid, durationDays: 366 }, 'durationDays'],
      ['durationDays 1.5', { ...valid, durationDays: 1.5 }, 'durationDays'],
      ['durationDays "30" (a string)', { ...valid, durationDays: '30' }, 'durationDays'],
      ['durationDays null', { ...valid, durationDays: null }, 'durationDays'],
      ['durationDays missing', without('durationDays'), 'durationDays'],
      ['scopes []', { ...valid, scopes: [] }, 'scopes'],
      ['duplicate scopes', { ...valid, scopes: ['read:data', 'read:data'] }, 'scopes'],
      ['an unknown scope', { ...valid, scopes: ['read:data', 'read:everything'] }, 'scopes'],
      ['scopes not an array', { ...valid, scopes: 'read:data' }, 'scopes'],
      ['a scope that is not a string', { ...valid, scopes: [42] }, 'scopes'],
      ['scopes missing', without('scopes'), 'scopes'],
      ["name ''", { ...valid, name: '' }, 'name'],
      ["name '   '", { ...valid, name: '   ' }, 'name'],
      ['name of 101 characters', { ...valid, name: 'n'.repeat(101) }, 'name'],
      ['name not a string', { ...valid, name: 12 }, 'name'],
      ['a name with a line break', { ...valid, name: 'Serveur\r\nFAKE: token revoked' }, 'name'],
      ['a name with a terminal escape', { ...valid, name: 'Serveur \u001b[2J' }, 'name'],
      ['a name with a bidirectional override', { ...valid, name: 'Serveur \u202Eetalp' }, 'name'],
      ['name missing', without('name'), 'name'],
      ["an extra field (another user's userId)", { ...valid, userId: '00000000-0000-4000-8000-000000000000' }, 'userId'],
    ];

    it.each(badBodies)('refuses %s with 400 naming the field', async (_what, body, field) => {
      const count = await tokenCount();
      const res = await create(alice, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.fields.map((f: { field: string }) => f.field)).toContain(field);
      expect(res.body.error).toContain(field);
      expect(await tokenCount()).toBe(count);
    });

    it('does not create a token for another user when the body names one (userId is refused)', async () => {
      const res = await create(alice, { ...valid, userId: bob.id });
      expect(res.status).toBe(400);
      const { rows } = await t.db.query(`SELECT count(*) AS n FROM api_tokens WHERE user_id = $1`, [bob.id]);
      expect(Number(rows[0].n)).toBe(0);
    });

    it.each([
      ['an array', '[]'],
      ['null', 'null'],
      ['a string', '"token"'],
      ['broken JSON', '{"name": '],
    ])('refuses a body that is %s with 400', async (_what, rawBody) => {
      const res = await t.request('POST', '/api/tokens', { token: alice.token, rawBody });
      expect(res.status).toBe(400);
      expect(typeof res.body.code).toBe('string');
    });

    it('refuses read:audit to a plain user with 403 scope_not_allowed', async () => {
      const count = await tokenCount();
      const res = await create(alice, { ...valid, scopes: ['read:data', 'read:audit'] });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('scope_not_allowed');
      expect(res.body.error).toContain('read:audit');
      expect(await tokenCount()).toBe(count);
    });

    it('lets an auditor and an admin grant read:audit', async () => {
      for (const user of [auditor, admin]) {
        const created = await newToken(user, { scopes: ['read:audit'] });
        expect(created.scopes).toEqual(['read:audit']);
        expect(decodeJwt(created.token).payload.scopes).toEqual(['read:audit']);
        expect((await validate(created.token)).status).toBe(200);
      }
    });

    it('needs a session', async () => {
      const res = await t.request('POST', '/api/tokens', { body: valid });
      expect(res.status).toBe(401);
    });
  });

  describe('GET /api/tokens', () => {
    it("lists the caller's tokens newest first with their status, never the token", async () => {
      const carol = await createUser(t);
      const old = await newToken(carol, { name: 'expired one' });
      const mid = await newToken(carol, { name: 'revoked one' });
      const recent = await newToken(carol, { name: 'active one' });
      const latest = await newToken(carol, { name: 'latest' });
      // Give them distinct creation times, and let the oldest expire.
      await t.db.query(
        `UPDATE api_tokens SET created_at = now() - interval '10 days', expires_at = now() - interval '1 day' WHERE id = $1`,
        [old.id],
      );
      await t.db.query(`UPDATE api_tokens SET created_at = now() - interval '5 days' WHERE id = $1`, [mid.id]);
      await t.db.query(`UPDATE api_tokens SET created_at = now() - interval '1 day' WHERE id = $1`, [recent.id]);
      expect((await t.request('DELETE', `/api/tokens/${mid.id}`, { token: carol.token })).status).toBe(204);
      await newToken(bob, { name: "bob's" });

      const res = await t.request('GET', '/api/tokens', { token: carol.token });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(['items']);
      const items = res.body.items as Record<string, unknown>[];
      expect(items.map((i) => i.id)).toEqual([latest.id, recent.id, mid.id, old.id]);
      expect(items.map((i) => i.status)).toEqual(['active', 'active', 'revoked', 'expired']);
      for (const item of items) {
        expect(Object.keys(item).sort()).toEqual(VIEW_KEYS);
        expect(item).not.toHaveProperty('token');
      }
      expect(items[2].revokedAt).toEqual(expect.any(String));
      expect(items[0]).toMatchObject({ name: 'latest', scopes: ['read:data'], revokedAt: null, lastUsedAt: null, lastUsedIp: null });
      for (const created of [old, mid, recent, latest]) {
        expect(res.text).not.toContain(created.token);
        expect(res.text).not.toContain(created.token.split('.')[2]);
      }
    });

    // created_at is kept to the second (it is the JWT's iat) and ties are broken by the random id,
    // so tokens made within one second come back in random order.
    it('lists tokens created within the same second newest first', async () => {
      const eve = await createUser(t);
      const created = [];
      for (let i = 0; i < 10; i++) created.push(await newToken(eve, { name: `token ${i}` }));
      const res = await t.request('GET', '/api/tokens', { token: eve.token });
      expect(res.status).toBe(200);
      expect(res.body.items.map((i: { id: string }) => i.id)).toEqual(created.map((c) => c.id).reverse());
    });

    it('is empty for a user without tokens', async () => {
      const dave = await createUser(t);
      const res = await t.request('GET', '/api/tokens', { token: dave.token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ items: [] });
    });
  });

  describe('GET /api/tokens/:id', () => {
    it('shows a token to its owner, with the view fields only', async () => {
      const created = await newToken(alice, { name: 'to read' });
      const res = await t.request('GET', `/api/tokens/${created.id}`, { token: alice.token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        id: created.id,
        name: 'to read',
        scopes: ['read:data'],
        createdAt: created.createdAt,
        expiresAt: created.expiresAt,
        revokedAt: null,
        revokedReason: null,
        lastUsedAt: null,
        lastUsedIp: null,
        allowedIps: null,
        status: 'active',
        audience: null,
        viaClient: null,
      });
    });

    it("answers 404 for another user's token, and shows it to an admin", async () => {
      const created = await newToken(alice);
      const asBob = await t.request('GET', `/api/tokens/${created.id}`, { token: bob.token });
      expect(asBob.status).toBe(404);
      expect(asBob.body.code).toBe('not_found');
      const unknown = await t.request('GET', `/api/tokens/${randomUUID()}`, { token: bob.token });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error).toBe(asBob.body.error);

      const asAdmin = await t.request('GET', `/api/tokens/${created.id}`, { token: admin.token });
      expect(asAdmin.status).toBe(200);
      expect(asAdmin.body.id).toBe(created.id);
      expect(asAdmin.body).not.toHaveProperty('token');
    });

    it('answers 400 for an id that is not a UUID', async () => {
      const res = await t.request('GET', '/api/tokens/not-a-uuid', { token: alice.token });
      expect(res.status).toBe(400);
      expect(res.body.fields).toEqual([{ field: 'id', message: expect.any(String) }]);
    });
  });

  describe('DELETE /api/tokens/:id', () => {
    it('revokes: 204, then 204 again, and validation refuses the token', async () => {
      const created = await newToken(alice);
      expect((await validate(created.token)).status).toBe(200);
      const first = await t.request('DELETE', `/api/tokens/${created.id}`, { token: alice.token });
      expect(first.status).toBe(204);
      expect(first.text).toBe('');
      const got = await t.request('GET', `/api/tokens/${created.id}`, { token: alice.token });
      expect(got.body.status).toBe('revoked');
      expect(got.body.revokedReason).toBe('revoked');
      const revokedAt = got.body.revokedAt;
      expect(revokedAt).toEqual(expect.any(String));

      const second = await t.request('DELETE', `/api/tokens/${created.id}`, { token: alice.token });
      expect(second.status).toBe(204);
      const again = await t.request('GET', `/api/tokens/${created.id}`, { token: alice.token });
      expect(again.body.revokedAt).toBe(revokedAt);

      const res = await validate(created.token);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'Token révoqué ou inexistant', code: 'token_revoked' });
    });

    it('refuses to rotate a read:audit token whose owner is no longer an auditor: 403 scope_not_allowed, nothing issued', async () => {
      const former = await createUser(t, { role: 'auditor' });
      const old = await newToken(former, { scopes: ['read:audit'] });
      expect((await t.request('PATCH', `/api/users/${former.id}`, { token: admin.token, body: { role: 'user' } })).status).toBe(200);
      const count = await tokenCount();
      const res = await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: former.token });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('scope_not_allowed');
      expect(res.body.error).toContain('read:audit');
      expect(await tokenCount()).toBe(count);
    });

    it("answers 404 for another user's token and leaves it working", async () => {
      const created = await newToken(alice);
      const res = await t.request('DELETE', `/api/tokens/${created.id}`, { token: bob.token });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
      expect((await t.request('GET', `/api/tokens/${created.id}`, { token: alice.token })).body.status).toBe('active');
      expect((await validate(created.token)).status).toBe(200);
    });

    it("lets an admin revoke another user's token", async () => {
      const created = await newToken(alice);
      expect((await t.request('DELETE', `/api/tokens/${created.id}`, { token: admin.token })).status).toBe(204);
      expect((await validate(created.token)).body.code).toBe('token_revoked');
    });

    it('answers 404 for an unknown id', async () => {
      const res = await t.request('DELETE', `/api/tokens/${randomUUID()}`, { token: alice.token });
      expect(res.status).toBe(404);
    });
  });

  describe('POST /api/tokens/:id/rotate', () => {
    it('issues a new token with the same name and scopes and revokes the old one', async () => {
      const old = await newToken(alice, { name: 'à tourner', scopes: ['read:data', 'write:bookings'], durationDays: 30 });
      const res = await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: alice.token });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(CREATED_KEYS);
      expect(res.body.id).not.toBe(old.id);
      expect(res.body.token).not.toBe(old.token);
      expect(res.body.name).toBe('à tourner');
      expect(res.body.scopes).toEqual(['read:data', 'write:bookings']);
      expect(res.headers.get('location')).toBe(`/api/tokens/${res.body.id}`);
      // By default the new token lives as long as the old one was meant to.
      expect(Date.parse(res.body.expiresAt) - Date.parse(res.body.createdAt)).toBe(30 * DAY_MS);
      const { payload } = decodeJwt(res.body.token);
      expect(payload).toMatchObject({ sub: alice.id, jti: res.body.id, scopes: ['read:data', 'write:bookings'], token_use: 'api' });

      const oldView = await t.request('GET', `/api/tokens/${old.id}`, { token: alice.token });
      expect(oldView.body.status).toBe('revoked');
      expect(oldView.body.revokedReason).toBe('rotated');
      const oldCheck = await validate(old.token);
      expect(oldCheck.status).toBe(401);
      expect(oldCheck.body).toEqual({ error: 'Token révoqué ou inexistant', code: 'token_revoked' });
      const newCheck = await validate(res.body.token);
      expect(newCheck.status).toBe(200);
      expect(newCheck.body.token).toEqual({
        id: res.body.id,
        name: 'à tourner',
        scopes: ['read:data', 'write:bookings'],
        expiresAt: res.body.expiresAt,
      });

      const { rows } = await t.db.query(`SELECT fingerprint FROM api_tokens WHERE id = $1`, [res.body.id]);
      expect(rows[0].fingerprint).toBe(sha256Hex(res.body.token));
    });

    it('takes durationDays for the new token', async () => {
      const old = await newToken(alice, { durationDays: 30 });
      const res = await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: alice.token, body: { durationDays: 7 } });
      expect(res.status).toBe(201);
      expect(Date.parse(res.body.expiresAt) - Date.parse(res.body.createdAt)).toBe(7 * DAY_MS);
    });

    it.each([[0], [366], [2.5], ['7']])('refuses durationDays %p with 400 and keeps the old token', async (durationDays) => {
      const old = await newToken(alice);
      const res = await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: alice.token, body: { durationDays } });
      expect(res.status).toBe(400);
      expect(res.body.fields.map((f: { field: string }) => f.field)).toContain('durationDays');
      expect((await validate(old.token)).status).toBe(200);
    });

    it('answers 409 for a revoked token', async () => {
      const old = await newToken(alice);
      expect((await t.request('DELETE', `/api/tokens/${old.id}`, { token: alice.token })).status).toBe(204);
      const count = await tokenCount();
      const res = await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: alice.token });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('token_revoked');
      expect(await tokenCount()).toBe(count);
    });

    it('answers 409 when rotating the same token twice', async () => {
      const old = await newToken(alice);
      expect((await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: alice.token })).status).toBe(201);
      expect((await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: alice.token })).status).toBe(409);
    });

    it('rotates a token once when two rotations race: one 201, one 409', async () => {
      const old = await newToken(alice);
      const count = await tokenCount();
      const answers = await Promise.all([1, 2].map(() => t.request('POST', `/api/tokens/${old.id}/rotate`, { token: alice.token })));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
      expect(await tokenCount()).toBe(count + 1);
      const winner = answers.find((a) => a.status === 201)!;
      const { rows } = await t.db.query(`SELECT replaced_by FROM api_tokens WHERE id = $1`, [old.id]);
      expect(rows[0].replaced_by).toBe(winner.body.id);
    });

    it("answers 404 for another user's token and leaves it working", async () => {
      const old = await newToken(alice);
      const count = await tokenCount();
      const res = await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: bob.token });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
      expect(await tokenCount()).toBe(count);
      expect((await validate(old.token)).status).toBe(200);
    });

    it("refuses an admin's rotation of another user's token: 403 not_token_owner, no token text, nothing issued, the old token still works", async () => {
      const old = await newToken(alice);
      const count = await tokenCount();
      const res = await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: admin.token });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        error: 'Only the owner of a token may rotate it: revoke it instead',
        code: 'not_token_owner',
        requestId: expect.any(String),
      });
      expect(res.text).not.toMatch(/eyJ/);
      expect(await tokenCount()).toBe(count);
      expect((await validate(old.token)).status).toBe(200);
      const mine = await t.request('GET', `/api/tokens/${old.id}`, { token: alice.token });
      expect(mine.body.status).toBe('active');
      // The admin may still end it.
      expect((await t.request('DELETE', `/api/tokens/${old.id}`, { token: admin.token })).status).toBe(204);
      expect((await validate(old.token)).body.code).toBe('token_revoked');
    });

    it('lets an admin rotate their own token', async () => {
      const own = await newToken(admin);
      const res = await t.request('POST', `/api/tokens/${own.id}/rotate`, { token: admin.token });
      expect(res.status).toBe(201);
      expect(decodeJwt(res.body.token).payload.sub).toBe(admin.id);
    });
  });

  describe('an API token is not a session', () => {
    it.each([
      ['GET', '/api/tokens'],
      ['GET', '/api/tokens/scopes'],
      ['POST', '/api/tokens'],
      ['GET', '/api/users/me'],
    ])('%s %s refuses an API token with 401', async (method, path) => {
      const created = await newToken(alice);
      const res = await t.request(method, path, {
        token: created.token,
        ...(method === 'POST' ? { body: { name: 'x', scopes: ['read:data'], durationDays: 1 } } : {}),
      });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('unauthorized');
      // The same route answers the owner's session.
      const withSession = await t.request(method, path, {
        token: alice.token,
        ...(method === 'POST' ? { body: { name: 'x', scopes: ['read:data'], durationDays: 1 } } : {}),
      });
      expect(withSession.status).toBeLessThan(300);
    });
  });
});
