// GET /api/tokens/{id}/usage: a token's validations per UTC day (accepted and refused), its last use
// and the addresses that used it most, read from the per-token daily rollup; who may see it.
import { randomBytes, randomUUID } from 'node:crypto';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import type { AuditInput } from '../../src/audit/audit.types.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const A = '10.7.0.1';
const B = '10.7.0.2';
const C = '2001:db8::7';

describe('token usage', () => {
  let t: TestApp;
  let owner: User;
  let other: User;
  let auditor: User;
  let admin: User;
  let today: number;
  const past = randomUUID();
  let live: { id: string; token: string };

  const usage = (id: string, token: string, query = '') => t.request('GET', `/api/tokens/${id}/usage${query}`, { token });
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

  beforeAll(async () => {
    t = await startTestApp();
    today = Math.floor(Date.now() / DAY) * DAY;
    // History first (time only moves forward along the chain): a token's validations two days ago
    // and yesterday, from three addresses, with other tokens' events around them.
    const e = (
      at: number,
      outcome: string,
      ip: string | null,
      tokenId: string | null = past,
      type: AuditInput['type'] = 'token.validate',
    ): AuditInput => ({
      occurredAt: new Date(at),
      type,
      outcome,
      ip,
      tokenId,
    });
    const history: AuditInput[] = [
      e(today - 2 * DAY + 9 * HOUR, 'valid', A),
      e(today - 2 * DAY + 10 * HOUR, 'valid', A),
      e(today - 2 * DAY + 11 * HOUR, 'insufficient_scope', B),
      e(today - 2 * DAY + 12 * HOUR, 'valid', A, randomUUID()),
      e(today - 2 * DAY + 13 * HOUR, 'invalid', B, null),
      e(today - DAY + 1 * HOUR, 'valid', C, past, 'token.introspect'),
      e(today - DAY + 2 * HOUR, 'valid', C),
      e(today - DAY + 3 * HOUR, 'valid', C),
      e(today - DAY + 4 * HOUR, 'expired', A),
      e(today - DAY + 5 * HOUR, 'valid', null),
      e(today - DAY + 6 * HOUR, 'success', A, past, 'token.revoke'),
    ];
    const writer = t.app.get(AuditWriter);
    for (const ev of history) await writer.record(ev);
    owner = await createUser(t);
    other = await createUser(t);
    auditor = await createUser(t, { role: 'auditor' });
    admin = await createUser(t, { role: 'admin' });
    // The token of that history, owned by `owner`.
    await t.db.query(
      `INSERT INTO "api_tokens" ("id", "user_id", "name", "scopes", "fingerprint", "created_at", "expires_at", "last_used_at", "last_used_ip")
       VALUES ($1, $2, 'Ancien serveur', '{read:data}', $3, $4, $5, $6, $7)`,
      [
        past,
        owner.id,
        randomBytes(32).toString('hex'),
        new Date(today - 10 * DAY),
        new Date(today + 20 * DAY),
        new Date(today - DAY + 3 * HOUR),
        C,
      ],
    );
    const r = await t.request('POST', '/api/tokens', {
      token: owner.token,
      body: { name: 'Serveur FastMCP test', scopes: ['read:data'], durationDays: 30 },
    });
    live = r.body;
    for (let i = 0; i < 5; i++) expect((await t.request('POST', '/api/mcp/validate', { token: live.token })).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const refused = await t.request('POST', '/api/mcp/validate', { token: live.token, body: { requiredScopes: ['write:bookings'] } });
      expect(refused.status).toBe(403);
    }
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('per day over 30 days (zeros included), totals and the most frequent addresses, from the rollup', async () => {
    const r = await usage(past, owner.token);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ tokenId: past, from: day(today - 29 * DAY), to: day(today), totalOk: 6, totalRefused: 2 });
    expect(r.body.days).toHaveLength(30);
    const nonZero = r.body.days.filter((d: { ok: number; refused: number }) => d.ok + d.refused > 0);
    expect(nonZero).toEqual([
      { day: day(today - 2 * DAY), ok: 2, refused: 1 },
      { day: day(today - DAY), ok: 4, refused: 1 },
    ]);
    expect(r.body.lastUsedAt).toBe(new Date(today - DAY + 3 * HOUR).toISOString());
    expect(r.body.lastUsedIp).toBe(C);
    expect(r.body.topAddresses).toEqual([
      { ip: A, ok: 2, refused: 1, lastAt: new Date(today - DAY + 4 * HOUR).toISOString() },
      { ip: C, ok: 3, refused: 0, lastAt: new Date(today - DAY + 3 * HOUR).toISOString() },
      { ip: '', ok: 1, refused: 0, lastAt: new Date(today - DAY + 5 * HOUR).toISOString() },
      { ip: B, ok: 0, refused: 1, lastAt: new Date(today - 2 * DAY + 11 * HOUR).toISOString() },
    ]);
  });

  it('the same counts as the stored events', async () => {
    const { rows } = await t.db.query(
      `SELECT to_char("occurred_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) FILTER (WHERE "outcome" = 'valid')::int AS ok,
              count(*) FILTER (WHERE "outcome" <> 'valid')::int AS refused
         FROM "audit_event" WHERE "token_id" = $1 AND "type" IN ('token.validate', 'token.introspect') GROUP BY 1 ORDER BY 1`,
      [past],
    );
    const r = await usage(past, owner.token, '?days=3');
    expect(r.body.days.filter((d: { ok: number; refused: number }) => d.ok + d.refused > 0)).toEqual(rows);
  });

  it("counts today's validations at once: accepted and refused, from this address", async () => {
    const r = await usage(live.id, owner.token, '?days=1');
    expect(r.status).toBe(200);
    expect(r.body.days).toEqual([{ day: day(today), ok: 5, refused: 2 }]);
    expect(r.body.topAddresses).toEqual([{ ip: '127.0.0.1', ok: 5, refused: 2, lastAt: expect.any(String) }]);
    expect(r.body.lastUsedIp).toBe('127.0.0.1');
    expect(Date.parse(r.body.lastUsedAt)).toBeGreaterThan(today);
  });

  it('days: 1 to 90', async () => {
    expect((await usage(past, owner.token, '?days=90')).body.days).toHaveLength(90);
    for (const bad of ['0', '91', 'abc', '1.5']) {
      const r = await usage(past, owner.token, `?days=${bad}`);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('validation_failed');
      expect(r.body.fields[0].field).toBe('days');
    }
  });

  it("the owner, auditors and admins see it; another user's token is 404, as an unknown one", async () => {
    expect((await usage(past, auditor.token)).status).toBe(200);
    expect((await usage(past, admin.token)).status).toBe(200);
    const hidden = await usage(past, other.token);
    expect(hidden.status).toBe(404);
    expect(hidden.body).toMatchObject({ code: 'not_found', error: 'Token not found' });
    expect((await usage(randomUUID(), owner.token)).status).toBe(404);
    expect((await usage('not-a-uuid', owner.token)).status).toBe(400);
    expect((await t.request('GET', `/api/tokens/${past}/usage`)).status).toBe(401);
    // An API token is not a session: not even its own usage.
    expect((await usage(live.id, live.token)).status).toBe(401);
  });
});
