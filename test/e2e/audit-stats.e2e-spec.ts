// GET /api/audit/stats: counts per hour and per day by outcome, the most
// failing addresses and tokens, the type filter and the checks on the period.
import { AuditWriter } from '../../src/audit/audit.writer.js';
import type { AuditInput } from '../../src/audit/audit.types.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOT_FAILURES = ['valid', 'success', 'already_revoked'];

const TOK1 = '00000000-0000-4000-8000-000000000001';
const TOK2 = '00000000-0000-4000-8000-000000000002';
const TOK3 = '00000000-0000-4000-8000-000000000003';
const A = '10.6.0.1';
const B = '10.6.0.2';
const C = '10.6.0.3';
const D = '10.6.0.4';

type Seed = AuditInput & { occurredAt: Date };

interface Bucket {
  start: string;
  total: number;
  outcomes: Record<string, number>;
}

/** Two days of history, at chosen UTC times: the day before yesterday (d2) and yesterday (d1). */
function history(today: number): Seed[] {
  const d2 = today - 2 * DAY;
  const d1 = today - DAY;
  const s = (at: number, type: AuditInput['type'], outcome: string, ip: string | null, tokenId: string | null = null): Seed => ({
    occurredAt: new Date(at),
    type,
    outcome,
    ip,
    tokenId,
  });
  return [
    s(d2 + 10 * HOUR + 5 * MINUTE, 'token.validate', 'valid', A, TOK1),
    s(d2 + 10 * HOUR + 40 * MINUTE, 'token.validate', 'invalid', B),
    s(d2 + 11 * HOUR - 1, 'token.validate', 'revoked', B, TOK2),
    s(d2 + 11 * HOUR + 15 * MINUTE, 'token.validate', 'valid', A, TOK1),
    s(d2 + 11 * HOUR + 20 * MINUTE, 'auth.login', 'failure', B),
    s(d2 + 11 * HOUR + 30 * MINUTE, 'token.validate', 'insufficient_scope', C, TOK1),
    s(d2 + 23 * HOUR + 30 * MINUTE, 'token.validate', 'expired', C, TOK2),
    s(d1 + 10 * MINUTE, 'token.validate', 'invalid', B),
    s(d1 + 50 * MINUTE, 'token.validate', 'revoked', D, TOK2),
    s(d1 + 15 * HOUR, 'token.revoke', 'already_revoked', D, TOK2),
    s(d1 + 15 * HOUR + 30 * MINUTE, 'auth.login', 'failure', C),
    s(d1 + 15 * HOUR + 45 * MINUTE, 'token.validate', 'valid', C, TOK3),
    s(d1 + 16 * HOUR, 'token.validate', 'error', null, TOK3),
  ];
}

/** The buckets the API should give: events grouped by UTC hour or day, then outcome. */
function bucketsOf(seeds: Seed[], interval: 'hour' | 'day'): Bucket[] {
  const size = interval === 'hour' ? HOUR : DAY;
  const map = new Map<string, Bucket>();
  for (const e of seeds) {
    const start = new Date(Math.floor(e.occurredAt.getTime() / size) * size).toISOString();
    const b = map.get(start) ?? { start, total: 0, outcomes: {} };
    b.total += 1;
    b.outcomes[e.outcome] = (b.outcomes[e.outcome] ?? 0) + 1;
    map.set(start, b);
  }
  return [...map.values()].sort((x, y) => (x.start < y.start ? -1 : 1));
}

describe('audit stats', () => {
  let t: TestApp;
  let auditor: User;
  let today: number;
  let seeds: Seed[];
  let d2: string;
  let d1: string;
  let d0: string;

  const stats = (query: string, token = auditor.token) => t.request('GET', `/api/audit/stats${query ? `?${query}` : ''}`, { token });

  beforeAll(async () => {
    t = await startTestApp();
    today = Math.floor(Date.now() / DAY) * DAY;
    [d2, d1, d0] = [today - 2 * DAY, today - DAY, today].map((ms) => new Date(ms).toISOString());
    seeds = history(today);
    // The history first, in order: time only moves forward along the chain.
    const writer = t.app.get(AuditWriter);
    for (const e of seeds) await writer.record(e);
    auditor = await createUser(t, { role: 'auditor' });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('per hour: exactly the recorded events, by outcome', async () => {
    const r = await stats(`from=${d2}&to=${d0}&interval=hour`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ from: d2, to: d0, interval: 'hour', type: null });
    expect(r.body.buckets).toEqual(bucketsOf(seeds, 'hour'));
    // spelled out for the busiest hour
    expect(r.body.buckets[0]).toEqual({ start: new Date(today - 2 * DAY + 10 * HOUR).toISOString(), total: 3, outcomes: { valid: 1, invalid: 1, revoked: 1 } });
    expect(r.body.buckets.reduce((n: number, b: Bucket) => n + b.total, 0)).toBe(seeds.length);
  });

  it('per hour: the same counts as the stored events', async () => {
    const r = await stats(`from=${d2}&to=${d0}&interval=hour`);
    const { rows } = await t.db.query(
      `SELECT to_char(date_trunc('hour', "occurred_at" AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS.000"Z"') AS start, "outcome", count(*)::int AS n
         FROM "audit_event" WHERE "occurred_at" >= $1 AND "occurred_at" < $2 GROUP BY 1, 2`,
      [d2, d0],
    );
    const fromDb: Record<string, Record<string, number>> = {};
    for (const row of rows) (fromDb[row.start] ??= {})[row.outcome] = row.n;
    expect(Object.fromEntries(r.body.buckets.map((b: Bucket) => [b.start, b.outcomes]))).toEqual(fromDb);
  });

  it('per day: exactly the recorded events, by outcome', async () => {
    const r = await stats(`from=${d2}&to=${d0}&interval=day`);
    expect(r.status).toBe(200);
    expect(r.body.buckets).toEqual([
      { start: d2, total: 7, outcomes: { valid: 2, invalid: 1, revoked: 1, failure: 1, insufficient_scope: 1, expired: 1 } },
      { start: d1, total: 6, outcomes: { invalid: 1, revoked: 1, already_revoked: 1, failure: 1, valid: 1, error: 1 } },
    ]);
    expect(r.body.buckets).toEqual(bucketsOf(seeds, 'day'));
  });

  it('counts the events of today too: the register and login of the auditor', async () => {
    const r = await stats(`from=${d0}&to=${new Date(Date.now() + HOUR).toISOString()}&interval=day&type=auth.login`);
    expect(r.body.buckets).toEqual([{ start: d0, total: 1, outcomes: { success: 1 } }]);
    const dflt = await stats('type=auth.register');
    expect(dflt.status).toBe(200);
    expect(dflt.body.buckets.reduce((n: number, b: Bucket) => n + b.total, 0)).toBe(1);
  });

  it('the most failing addresses and tokens, most failures first, ties by key', async () => {
    const r = await stats(`from=${d2}&to=${d0}`);
    expect(r.body.topFailingIps).toEqual([
      { ip: B, failures: 4 },
      { ip: C, failures: 3 },
      { ip: D, failures: 1 },
    ]);
    expect(r.body.topFailingTokens).toEqual([
      { tokenId: TOK2, failures: 3 },
      { tokenId: TOK1, failures: 1 },
      { tokenId: TOK3, failures: 1 },
    ]);
    // the same, from the stored events
    const failures = seeds.filter((e) => !NOT_FAILURES.includes(e.outcome));
    expect(r.body.topFailingIps.reduce((n: number, x: { failures: number }) => n + x.failures, 0)).toBe(failures.filter((e) => e.ip).length);
  });

  it('a one-day period counts that day only', async () => {
    const r = await stats(`from=${d1}&to=${new Date(today - 1).toISOString()}&interval=hour`);
    expect(r.body.buckets).toEqual(bucketsOf(seeds.filter((e) => e.occurredAt.toISOString() >= d1), 'hour'));
    expect(r.body.topFailingIps).toEqual([
      { ip: B, failures: 1 },
      { ip: C, failures: 1 },
      { ip: D, failures: 1 },
    ]);
    expect(r.body.topFailingTokens).toEqual([
      { tokenId: TOK2, failures: 1 },
      { tokenId: TOK3, failures: 1 },
    ]);
  });

  it('type: only the events of that type', async () => {
    const r = await stats(`from=${d2}&to=${d0}&interval=hour&type=token.validate`);
    expect(r.status).toBe(200);
    expect(r.body.type).toBe('token.validate');
    expect(r.body.buckets).toEqual(bucketsOf(seeds.filter((e) => e.type === 'token.validate'), 'hour'));
    const logins = await stats(`from=${d2}&to=${d0}&interval=day&type=auth.login`);
    expect(logins.body.buckets).toEqual([
      { start: d2, total: 1, outcomes: { failure: 1 } },
      { start: d1, total: 1, outcomes: { failure: 1 } },
    ]);
    const none = await stats(`from=${d2}&to=${d0}&type=user.update`);
    expect(none.body.buckets).toEqual([]);
  });

  it('from is rounded down to the hour; to is exclusive', async () => {
    const tenThirty = new Date(today - 2 * DAY + 10 * HOUR + 30 * MINUTE).toISOString();
    const eleven = new Date(today - 2 * DAY + 11 * HOUR).toISOString();
    const r = await stats(`from=${tenThirty}&to=${eleven}`);
    expect(r.body.buckets).toEqual([{ start: new Date(today - 2 * DAY + 10 * HOUR).toISOString(), total: 3, outcomes: { valid: 1, invalid: 1, revoked: 1 } }]);
  });

  // The failure rollups are daily and `to` is compared with `<=` on the day: a `to` at midnight
  // (exclusive, as documented) still counts that whole following day.
  it('the most failing lists respect an exclusive `to` at midnight', async () => {
    const r = await stats(`from=${d2}&to=${d1}`);
    expect(r.body.buckets).toEqual(bucketsOf(seeds.filter((e) => e.occurredAt.toISOString() < d1), 'hour'));
    expect(r.body.topFailingIps).toEqual([
      { ip: B, failures: 3 },
      { ip: C, failures: 2 },
    ]);
  });

  // The failure rollups have no type column: `type` filters the buckets but not the most failing lists.
  it('the most failing lists respect the type filter', async () => {
    const r = await stats(`from=${d2}&to=${d0}&type=auth.login`);
    expect(r.body.topFailingIps).toEqual([
      { ip: B, failures: 1 },
      { ip: C, failures: 1 },
    ]);
    expect(r.body.topFailingTokens).toEqual([]);
  });

  describe('validation', () => {
    it.each([
      ['from after to', 'from', `from=${new Date(Date.UTC(2026, 10, 26)).toISOString()}&to=${new Date(Date.UTC(2026, 10, 25)).toISOString()}`],
      ['a period over 400 days', 'from', 'from=2025-01-01T00:00:00Z&to=2026-02-06T00:00:00Z'],
      ['interval=week', 'interval', 'interval=week'],
      ['a bad from', 'from', 'from=yesterday'],
      ['a bad to', 'to', 'to=2026-13-45'],
      ['an unknown type', 'type', 'type=nope'],
      ['an unknown parameter', 'outcome', 'outcome=valid'],
    ])('%s is 400', async (_name, field, query) => {
      const r = await stats(query);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('validation_failed');
      expect(r.body.fields.map((f: { field: string }) => f.field)).toContain(field);
    });

    it('a period of exactly 400 days is accepted', async () => {
      const r = await stats('from=2025-01-01T00:00:00Z&to=2026-02-05T00:00:00Z&interval=day');
      expect(r.status).toBe(200);
    });
  });

  it('access: anonymous 401, plain user 403', async () => {
    const plain = await createUser(t);
    expect((await t.request('GET', '/api/audit/stats')).status).toBe(401);
    expect((await stats('', plain.token)).status).toBe(403);
  });
});

// initdb gives a server the time zone of its machine (e.g. Asia/Kolkata, UTC+05:30). The rollups
// bucket events with date_trunc('hour', occurred_at), which truncates in the session's time zone.
describe('audit stats on a database whose time zone is not a whole number of hours from UTC', () => {
  let t: TestApp;
  let auditor: User;
  let seeds: Seed[];
  let today: number;
  const saved = process.env.PGOPTIONS;

  beforeAll(async () => {
    process.env.PGOPTIONS = '-c TimeZone=Asia/Kolkata';
    t = await startTestApp();
    expect((await t.db.query('SHOW TimeZone')).rows[0].TimeZone).toBe('Asia/Kolkata');
    today = Math.floor(Date.now() / DAY) * DAY;
    seeds = history(today);
    const writer = t.app.get(AuditWriter);
    for (const e of seeds) await writer.record(e);
    auditor = await createUser(t, { role: 'auditor' });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    if (saved === undefined) delete process.env.PGOPTIONS;
    else process.env.PGOPTIONS = saved;
  });

  it('the events are stored at their UTC instants all the same', async () => {
    const { rows } = await t.db.query(`SELECT "occurred_at" FROM "audit_event" ORDER BY "id" LIMIT $1`, [seeds.length]);
    expect(rows.map((r) => (r.occurred_at as Date).toISOString())).toEqual(seeds.map((e) => e.occurredAt.toISOString()));
  });

  it('buckets are still UTC hours and days', async () => {
    const from = new Date(today - 2 * DAY).toISOString();
    const to = new Date(today).toISOString();
    const hourly = await t.request('GET', `/api/audit/stats?from=${from}&to=${to}&interval=hour`, { token: auditor.token });
    expect(hourly.body.buckets).toEqual(bucketsOf(seeds, 'hour'));
    const daily = await t.request('GET', `/api/audit/stats?from=${from}&to=${to}&interval=day`, { token: auditor.token });
    expect(daily.body.buckets).toEqual(bucketsOf(seeds, 'day'));
  });
});
