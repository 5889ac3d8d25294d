// The most failing IPs and tokens of GET /api/audit/stats: read from each day's busiest keys when
// that proves the answer, summed over the whole period otherwise. Either way the list must be the
// one a plain aggregation gives (most failures first, ties by key).
import { AuditStatsService } from '../../src/audit/audit-stats.service.js';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import type { AuditInput } from '../../src/audit/audit.types.js';
import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type Kind = 'ip' | 'token';
type Top = { key: string; n: number }[];

/** A small deterministic generator: the same events on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const token = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

describe('audit stats: the most failing IPs and tokens', () => {
  let t: TestApp;
  let audit: AuditStatsService;
  let today: number;

  /** The plain aggregation over the stored events: failures per key over whole UTC days. */
  const fromEvents = async (kind: Kind, fromDay: string, toDay: string, type?: string): Promise<Top> => {
    const column = kind === 'ip' ? `"ip"` : `"token_id"::text`;
    const { rows } = await t.db.query(
      `SELECT ${column} AS key, count(*)::int AS n FROM "audit_event"
        WHERE ${column} IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
          AND "occurred_at" >= $1::date::timestamp AT TIME ZONE 'UTC' AND "occurred_at" < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
          AND ($3::text IS NULL OR "type" = $3)
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`,
      [fromDay, toDay, type ?? null],
    );
    return rows;
  };

  /** The plain aggregation over the daily rollup (for the rows written here directly). */
  const fromRollup = async (kind: Kind, fromDay: string, toDay: string, type?: string): Promise<Top> => {
    const { rows } = await t.db.query(
      `SELECT "key", sum("count")::int AS n FROM "audit_failure_rollup_daily"
        WHERE "kind" = $1 AND "day" >= $2 AND "day" <= $3 AND ($4::text IS NULL OR "type" = $4)
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`,
      [kind, fromDay, toDay, type ?? null],
    );
    return rows;
  };

  /** Writes rollup rows as the writer would have: (day, type, kind, key, count). */
  const rollup = async (rows: [string, string, Kind, string, number][]): Promise<void> => {
    await t.db.query(
      `INSERT INTO "audit_failure_rollup_daily" ("day", "type", "kind", "key", "count")
       SELECT * FROM unnest($1::date[], $2::varchar[], $3::varchar[], $4::varchar[], $5::bigint[])`,
      [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3]), rows.map((r) => r[4])],
    );
  };

  beforeAll(async () => {
    t = await startTestApp();
    audit = t.app.get(AuditStatsService);
    today = Math.floor(Date.now() / DAY) * DAY;
    // Four days of failures: a few busy IPs and tokens, many quiet ones, over several types.
    const rand = rng(4);
    const events: AuditInput[] = [];
    const types: AuditInput['type'][] = ['token.validate', 'token.validate', 'token.validate', 'auth.login', 'token.revoke'];
    for (let i = 0; i < 600; i++) {
      const type = types[Math.floor(rand() * types.length)];
      const busy = Math.floor(Math.pow(rand(), 3) * 40); // key 0 far busier than key 39
      const outcome = rand() < 0.15 ? (type === 'token.validate' ? 'valid' : 'success') : type === 'token.validate' ? 'revoked' : 'failure';
      events.push({
        type,
        outcome,
        ip: `10.9.0.${busy}`,
        tokenId: type.startsWith('token.') ? token(Math.floor(Math.pow(rand(), 2) * 60)) : null,
      });
    }
    const writer = t.app.get(AuditWriter);
    // In time order along the chain: 150 events a day, on each of the four days before today.
    for (let i = 0; i < events.length; i++) {
      await writer.record({ ...events[i], occurredAt: new Date(today - 4 * DAY + Math.floor(i / 150) * DAY + (i % 150) * 60_000) });
    }
    // The rollups follow the events by up to a second; topFailing() reads them as they stand.
    await t.app.get(AuditStatsService).catchUpRollups();
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  describe('equal to the aggregation over the events, whatever the depth read', () => {
    const depths: [string, number[]][] = [
      ['1 deep', [1]],
      ['2 deep', [2]],
      ['3 deep', [3]],
      ['5 deep', [5]],
      ['1 then 8 deep', [1, 8]],
      ['the defaults', [40, 250]],
      ['the full sum only', []],
    ];
    it.each(depths)('%s', async (_name, d) => {
      const methods = new Set<string>();
      for (const kind of ['ip', 'token'] as Kind[]) {
        for (const type of [undefined, 'token.validate', 'auth.login']) {
          for (const [from, to] of [
            [today - 4 * DAY, today - DAY],
            [today - 3 * DAY, today - 2 * DAY],
            [today - 10 * DAY, today],
          ]) {
            const want = await fromEvents(kind, day(from), day(to), type);
            const got = await audit.topFailing(kind, day(from), day(to), type, d);
            expect(got.top).toEqual(want);
            methods.add(got.method);
          }
        }
      }
      if (d.length === 0) expect([...methods]).toEqual(['aggregate']);
    });

    it('the stats endpoint lists them too', async () => {
      const auditor = await createUser(t, { role: 'auditor' });
      const from = new Date(today - 4 * DAY).toISOString();
      const r = await t.request('GET', `/api/audit/stats?from=${from}&to=${new Date(today).toISOString()}&interval=day`, {
        token: auditor.token,
      });
      expect(r.status).toBe(200);
      const ips = await fromEvents('ip', day(today - 4 * DAY), day(today - 1));
      const tokens = await fromEvents('token', day(today - 4 * DAY), day(today - 1));
      expect(r.body.topFailingIps).toEqual(ips.map((x) => ({ ip: x.key, failures: x.n })));
      expect(r.body.topFailingTokens).toEqual(tokens.map((x) => ({ tokenId: x.key, failures: x.n })));
      expect(r.body.topFailingIps).toHaveLength(10);
      expect(r.body.topFailingTokens).toHaveLength(10);
    });
  });

  // Crafted rollups, in 2020 (away from the events above), each on its own days.
  it("proven from each day's busiest keys when the rest cannot catch up", async () => {
    const rows: [string, string, Kind, string, number][] = [];
    for (let d = 1; d <= 4; d++) {
      for (let i = 0; i < 30; i++) rows.push([`2020-01-0${d}`, 'token.validate', 'ip', `192.0.2.${i}`, (30 - i) ** 2 + ((d * i) % 4)]);
    }
    await rollup(rows);
    const got = await audit.topFailing('ip', '2020-01-01', '2020-01-04', undefined, [12]);
    expect(got.method).toBe('candidates');
    expect(got.top).toEqual(await fromRollup('ip', '2020-01-01', '2020-01-04'));
    expect(got.top.map((x) => x.key)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `192.0.2.${i}`));
  });

  it('summed in full when every key counts the same (nothing can be proven), or read deeper first', async () => {
    const rows: [string, string, Kind, string, number][] = [];
    for (let d = 1; d <= 4; d++) {
      for (let i = 29; i >= 0; i--) rows.push([`2020-02-0${d}`, 'token.validate', 'token', token(1000 + i), 2]);
    }
    await rollup(rows);
    const want = await fromRollup('token', '2020-02-01', '2020-02-04');
    expect(want.map((x) => x.key)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => token(1000 + i)));
    const shallow = await audit.topFailing('token', '2020-02-01', '2020-02-04', undefined, [5]);
    expect(shallow.method).toBe('aggregate');
    expect(shallow.top).toEqual(want);
    // 40 deep reads every key of each day: then nothing is left unseen.
    const deeper = await audit.topFailing('token', '2020-02-01', '2020-02-04', undefined, [5, 40]);
    expect(deeper.method).toBe('candidates');
    expect(deeper.top).toEqual(want);
  });

  it('ties at the tenth place are ordered by key, as the full sum orders them', async () => {
    const rows: [string, string, Kind, string, number][] = [];
    const heavy = [7, 3, 11, 0, 9, 5, 1, 10, 2, 8, 6, 4]; // twelve keys with the same total, written in no order
    for (let d = 1; d <= 3; d++) {
      for (const i of heavy) rows.push([`2020-03-0${d}`, 'auth.login', 'ip', `198.51.100.${i}`, 10]);
      for (let i = 0; i < 40; i++) rows.push([`2020-03-0${d}`, 'auth.login', 'ip', `203.0.113.${i}`, 1]);
    }
    await rollup(rows);
    for (const type of [undefined, 'auth.login']) {
      const want = await fromRollup('ip', '2020-03-01', '2020-03-03', type);
      const got = await audit.topFailing('ip', '2020-03-01', '2020-03-03', type, [15]);
      expect(got.method).toBe('candidates');
      expect(got.top).toEqual(want);
      expect(got.top.map((x) => x.key)).toEqual(['0', '1', '10', '11', '2', '3', '4', '5', '6', '7'].map((i) => `198.51.100.${i}`));
      expect(got.top.every((x) => x.n === 30)).toBe(true);
    }
  });

  it('a key spread over several types counts in full, each type read on its own', async () => {
    const rows: [string, string, Kind, string, number][] = [];
    for (let d = 1; d <= 3; d++) {
      // 192.0.2.200 is never first of a type, yet first overall: 4 + 4 + 4 a day.
      ['auth.login', 'token.create', 'token.revoke'].forEach((type, n) => {
        rows.push([`2020-04-0${d}`, type, 'ip', '192.0.2.200', 4]);
        for (let i = 0; i < 12; i++) rows.push([`2020-04-0${d}`, type, 'ip', `192.0.2.${n * 20 + i}`, i === 0 ? 5 : 1]);
      });
    }
    await rollup(rows);
    for (const d of [[1], [2], [4], [1, 13]]) {
      const got = await audit.topFailing('ip', '2020-04-01', '2020-04-03', undefined, d);
      expect(got.top).toEqual(await fromRollup('ip', '2020-04-01', '2020-04-03'));
      expect(got.top[0]).toEqual({ key: '192.0.2.200', n: 36 });
    }
  });

  it('nothing failed in the period: empty lists', async () => {
    expect(await audit.topFailing('ip', '2019-01-01', '2019-12-31')).toEqual({ top: [], method: 'candidates' });
    expect(await audit.topFailing('token', '2019-01-01', '2019-12-31', 'token.validate')).toEqual({ top: [], method: 'candidates' });
  });
});
