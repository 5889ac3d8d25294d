// The rollups (hourly counts, daily failures per IP and token) are kept outside the append's
// transaction: audit_rollup_catch_up() adds the events committed since its watermark. They must
// count every event exactly once, whoever catches up, however often, and alongside a rebuild.
import { AuditMaintenanceService } from '../../src/audit/audit-maintenance.service.js';
import { AuditStatsService } from '../../src/audit/audit-stats.service.js';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import type { AuditInput } from '../../src/audit/audit.types.js';
import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

const TOKENS = ['0b5f9c7e-1d2a-4c3b-8e4f-5a6b7c8d9e01', '0b5f9c7e-1d2a-4c3b-8e4f-5a6b7c8d9e02', '0b5f9c7e-1d2a-4c3b-8e4f-5a6b7c8d9e03'];

/** A mix of types and outcomes, successes and failures, over a few addresses and tokens. */
function events(n: number, seed: number): AuditInput[] {
  return Array.from({ length: n }, (_, i) => {
    const k = i + seed;
    const validate = k % 3 !== 0;
    return {
      type: validate ? 'token.validate' : 'auth.login',
      outcome: validate ? (k % 5 === 0 ? 'revoked' : k % 7 === 0 ? 'invalid' : 'valid') : k % 4 === 0 ? 'failure' : 'success',
      ip: `10.7.0.${k % 4}`,
      tokenId: validate ? TOKENS[k % TOKENS.length] : null,
    };
  });
}

describe('audit rollups follow the events', () => {
  let t: TestApp;
  let writer: AuditWriter;

  /** The rollups as they stand, and as counting every stored event gives them. */
  const rollups = async () => {
    const q = async (sql: string) => (await t.db.query(sql)).rows.map((r) => JSON.stringify(r));
    return {
      hourly: await q(`SELECT "bucket", "type", "outcome", "count"::int AS n FROM "audit_rollup_hourly" ORDER BY 1, 2, 3`),
      expectedHourly: await q(
        `SELECT date_trunc('hour', "occurred_at", 'UTC') AS bucket, "type", "outcome", count(*)::int AS n
           FROM "audit_event" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      ),
      failures: await q(
        `SELECT "day"::text AS day, "type", "kind", "key", "count"::int AS n FROM "audit_failure_rollup_daily" ORDER BY 1, 2, 3, 4`,
      ),
      expectedFailures: await q(
        `SELECT day, type, kind, key, count(*)::int AS n FROM (
           SELECT ("occurred_at" AT TIME ZONE 'UTC')::date::text AS day, "type", 'ip' AS kind, "ip" AS key FROM "audit_event"
            WHERE "ip" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
           UNION ALL
           SELECT ("occurred_at" AT TIME ZONE 'UTC')::date::text, "type", 'token', "token_id"::text FROM "audit_event"
            WHERE "token_id" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
         ) f GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
      ),
    };
  };
  const state = async () =>
    (await t.db.query(`SELECT s."rolled_up_to", h."last_id" FROM "audit_rollup_state" s, "audit_chain_head" h`)).rows[0] as {
      rolled_up_to: string;
      last_id: string;
    };

  beforeAll(async () => {
    t = await startTestApp();
    writer = t.app.get(AuditWriter);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('every instance brings them up to the chain head within about a second, without a stats read', async () => {
    await Promise.all(events(300, 0).map((e) => writer.record(e)));
    const deadline = Date.now() + 10_000;
    let s = await state();
    while (s.rolled_up_to !== s.last_id && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      s = await state();
    }
    expect(s.rolled_up_to).toBe(s.last_id);
    const r = await rollups();
    expect(r.hourly.length).toBeGreaterThan(0);
    expect(r.failures.length).toBeGreaterThan(0);
    expect(r.hourly).toEqual(r.expectedHourly);
    expect(r.failures).toEqual(r.expectedFailures);
  });

  describe('with the background pass stopped', () => {
    beforeAll(async () => {
      // Stops this instance's timer: from here on, the rollups move only when the test says so.
      await t.app.get(AuditMaintenanceService).onApplicationShutdown();
    });

    it('a stats read counts the events committed just before it', async () => {
      const auditor = await createUser(t, { role: 'auditor' });
      const before = await state();
      await Promise.all(events(120, 1000).map((e) => writer.record(e)));
      const pending = await state();
      expect(BigInt(pending.last_id)).toBeGreaterThan(BigInt(pending.rolled_up_to));
      expect(pending.rolled_up_to).toBe(before.rolled_up_to);

      const from = new Date(Date.now() - 2 * 3_600_000).toISOString();
      const to = new Date(Date.now() + 3_600_000).toISOString();
      const res = await t.request('GET', `/api/audit/stats?from=${from}&to=${to}&interval=hour`, { token: auditor.token });
      expect(res.status).toBe(200);
      const total = res.body.buckets.reduce((n: number, b: { total: number }) => n + b.total, 0);
      const stored = Number(
        (await t.db.query(`SELECT count(*) AS n FROM "audit_event" WHERE "occurred_at" >= $1 AND "occurred_at" < $2`, [from, to])).rows[0]
          .n,
      );
      expect(total).toBe(stored);
      expect(total).toBeGreaterThanOrEqual(420);
    });

    it('concurrent catch-ups add each event once', async () => {
      await Promise.all(events(400, 2000).map((e) => writer.record(e)));
      const before = await state();
      const added = await Promise.all(
        [true, false, true, false, true, true].map(async (wait) => {
          const { rows } = await t.db.query(`SELECT "audit_rollup_catch_up"($1) AS n`, [wait]);
          return rows[0].n === null ? 0 : Number(rows[0].n);
        }),
      );
      const after = await state();
      expect(after.rolled_up_to).toBe(after.last_id);
      expect(added.reduce((a, b) => a + b, 0)).toBe(Number(BigInt(before.last_id) - BigInt(before.rolled_up_to)));
      const r = await rollups();
      expect(r.hourly).toEqual(r.expectedHourly);
      expect(r.failures).toEqual(r.expectedFailures);
    });

    it('a rebuild with events not yet rolled up counts them once', async () => {
      await Promise.all(events(150, 3000).map((e) => writer.record(e)));
      const pending = await state();
      expect(BigInt(pending.last_id)).toBeGreaterThan(BigInt(pending.rolled_up_to));
      // A period that holds only part of the pending events (this hour onwards) and a catch-up after it.
      const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
      await t.db.query(`SELECT "audit_rollup_rebuild"($1, 'infinity')`, [hour]);
      expect(await t.app.get(AuditStatsService).catchUpRollups()).toBe(0);
      const r = await rollups();
      expect(r.hourly).toEqual(r.expectedHourly);
      expect(r.failures).toEqual(r.expectedFailures);
    });

    it('events appended while a catch-up holds the watermark are left to the next one', async () => {
      const c = await t.db.connect();
      try {
        await c.query('BEGIN');
        await c.query(`SELECT "audit_rollup_catch_up"(true)`);
        // The watermark stays locked: the append goes on regardless, and a non-waiting pass gives way.
        await Promise.all(events(50, 4000).map((e) => writer.record(e)));
        expect((await t.db.query(`SELECT "audit_rollup_catch_up"(false) AS n`)).rows[0].n).toBeNull();
        await c.query('COMMIT');
      } finally {
        c.release();
      }
      expect(await t.app.get(AuditStatsService).catchUpRollups()).toBe(50);
      const r = await rollups();
      expect(r.hourly).toEqual(r.expectedHourly);
      expect(r.failures).toEqual(r.expectedFailures);
    });
  });
});
