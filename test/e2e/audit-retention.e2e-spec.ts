// Retention (AUDIT_RETENTION_DAYS=30): whole monthly partitions older than the
// limit are dropped, nothing else; the chain anchor moves so that verify still
// passes; the prune is itself audited; the table stays append-only.
import { DataSource } from 'typeorm';
import { AuditMaintenanceService, type PruneResult } from '../../src/audit/audit-maintenance.service.js';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import type { AuditEvent, AuditInput } from '../../src/audit/audit.types.js';
import { storedEvents } from '../support/audit.js';
import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

const DAY = 86_400_000;
const RETENTION_DAYS = 30;

function partitionOf(at: Date | string): string {
  const d = new Date(at);
  return `audit_event_p${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

function monthEnd(partition: string): Date {
  const m = /^audit_event_p(\d{4})_(\d{2})$/.exec(partition);
  if (!m) throw new Error(`not a partition: ${partition}`);
  return new Date(Date.UTC(Number(m[1]), Number(m[2]), 1));
}

describe('audit retention', () => {
  let t: TestApp;
  let maintenance: AuditMaintenanceService;
  let now: Date;
  let cutoff: Date;
  let seeded: AuditEvent[];
  let partsBefore: string[];
  let expectedDropped: string[];
  let result: PruneResult;

  const partitions = async (): Promise<string[]> =>
    (
      await t.db.query(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = '"audit_event"'::regclass ORDER BY 1`,
      )
    ).rows.map((r) => r.name as string);

  beforeAll(async () => {
    t = await startTestApp({ AUDIT_RETENTION_DAYS: String(RETENTION_DAYS) });
    expect(t.config.auditRetentionDays).toBe(RETENTION_DAYS);
    maintenance = t.app.get(AuditMaintenanceService);
    await maintenance.ensurePartitionsAhead();
    // Nothing has been written yet: history can be recorded in order, oldest first.
    expect((await t.db.query(`SELECT "last_id" FROM "audit_chain_head"`)).rows[0].last_id).toBe('0');

    const n = Date.now();
    const limit = n - RETENTION_DAYS * DAY;
    const history: AuditInput[] = [
      { occurredAt: new Date(n - 100 * DAY), type: 'token.validate', outcome: 'invalid', ip: '10.5.0.1', details: { age: '100d' } },
      { occurredAt: new Date(n - 100 * DAY + 1000), type: 'token.validate', outcome: 'valid', ip: '10.5.0.2', details: { age: '100d' } },
      { occurredAt: new Date(n - 70 * DAY), type: 'auth.login', outcome: 'failure', ip: '10.5.0.1', details: { age: '70d' } },
      { occurredAt: new Date(n - 70 * DAY + 1000), type: 'auth.login', outcome: 'success', ip: '10.5.0.3', details: { age: '70d' } },
      { occurredAt: new Date(n - 40 * DAY), type: 'token.validate', outcome: 'revoked', ip: '10.5.0.4', details: { age: '40d' } },
      { occurredAt: new Date(limit - 60_000), type: 'token.validate', outcome: 'expired', ip: '10.5.0.4', details: { age: 'just older than the limit' } },
      { occurredAt: new Date(n - 7 * DAY), type: 'token.validate', outcome: 'invalid', ip: '10.5.0.5', details: { age: '7d' } },
      { occurredAt: new Date(n - 7 * DAY + 1000), type: 'token.create', outcome: 'success', ip: '10.5.0.5', details: { age: '7d' } },
      { occurredAt: new Date(n - 3_600_000), type: 'token.validate', outcome: 'valid', ip: '10.5.0.6', details: { age: '1h' } },
    ];
    const writer = t.app.get(AuditWriter);
    for (const e of history) await writer.record(e);
    seeded = await storedEvents(t);
    expect(seeded.map((e) => e.details.age)).toEqual(history.map((e) => e.details?.age));
    expect(seeded.map((e) => e.occurredAt)).toEqual(history.map((e) => e.occurredAt?.toISOString()));

    partsBefore = await partitions();
    now = new Date();
    cutoff = new Date(now.getTime() - RETENTION_DAYS * DAY);
    expectedDropped = partsBefore.filter((p) => monthEnd(p) <= cutoff);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('the history has a partition for each of its months, ahead of the present ones', () => {
    for (const e of seeded) expect(partsBefore).toContain(partitionOf(e.occurredAt));
    for (let i = 0; i <= 2; i++) {
      expect(partsBefore).toContain(partitionOf(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1))));
    }
    // the months of 100 and 70 days ago always end before the limit; those of the last week and of today never do
    expect(expectedDropped).toEqual(expect.arrayContaining([partitionOf(seeded[0].occurredAt), partitionOf(seeded[2].occurredAt)]));
    expect(expectedDropped).not.toContain(partitionOf(seeded[6].occurredAt));
    expect(expectedDropped).not.toContain(partitionOf(now));
  });

  it('ensurePartitionsAhead makes the partitions of the given month and the next two', async () => {
    const later = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 7, 15));
    await maintenance.ensurePartitionsAhead(later);
    const parts = await partitions();
    for (let i = 0; i <= 2; i++) expect(parts).toContain(partitionOf(new Date(Date.UTC(later.getUTCFullYear(), later.getUTCMonth() + i, 1))));
    partsBefore = parts;
  });

  describe('prune(now)', () => {
    let lastDropped: AuditEvent;
    let rollupsBefore: { bucket: Date; type: string; outcome: string; count: string }[];

    beforeAll(async () => {
      const dropped = seeded.filter((e) => expectedDropped.includes(partitionOf(e.occurredAt)));
      lastDropped = dropped[dropped.length - 1];
      // The rollups as they stand once every seeded event is in them (they follow the events by up to a second).
      await t.db.query(`SELECT "audit_rollup_catch_up"()`);
      rollupsBefore = (await t.db.query(`SELECT * FROM "audit_rollup_hourly" ORDER BY "bucket", "type", "outcome"`)).rows;
      expect((await t.db.query(`SELECT count(*)::int AS n FROM "audit_event" WHERE "type" = 'audit.prune'`)).rows[0].n).toBe(0);
      result = await maintenance.prune(now);
    });

    it('drops exactly the partitions whose whole month ends before now − 30 days', async () => {
      const dropped = seeded.filter((e) => expectedDropped.includes(partitionOf(e.occurredAt)));
      expect(result).toEqual({
        cutoff: cutoff.toISOString(),
        partitions: expectedDropped,
        events: dropped.length,
        firstRetainedId: String(BigInt(lastDropped.id) + 1n),
      });
      const after = await partitions();
      expect(after).toEqual(partsBefore.filter((p) => !expectedDropped.includes(p)));
      for (const p of expectedDropped) {
        expect((await t.db.query(`SELECT to_regclass($1) AS r`, [p])).rows[0].r).toBeNull();
      }
    });

    it('keeps every event of the kept partitions, even those older than the limit', async () => {
      const kept = seeded.filter((e) => !expectedDropped.includes(partitionOf(e.occurredAt)));
      const stored = await storedEvents(t);
      expect(stored.slice(0, kept.length)).toEqual(kept);
      const olderKept = kept.filter((e) => e.occurredAt < cutoff.toISOString());
      expect(olderKept.map((e) => e.details.age)).toContain('just older than the limit');
      expect(stored.filter((e) => e.occurredAt >= cutoff.toISOString()).length).toBeGreaterThanOrEqual(3);
    });

    it('records an audit.prune event with the counts', async () => {
      const events = await storedEvents(t);
      const prune = events.filter((e) => e.type === 'audit.prune');
      expect(prune).toHaveLength(1);
      expect(prune[0]).toMatchObject({ outcome: 'success', id: String(seeded.length + 1) });
      expect(prune[0].details).toEqual({ ...result, retentionDays: RETENTION_DAYS });
    });

    it('moves the chain anchor past the dropped events', async () => {
      const { rows } = await t.db.query(`SELECT "first_id", "prev_hash", "pruned_events" FROM "audit_chain_anchor"`);
      expect(rows).toEqual([{ first_id: result.firstRetainedId, prev_hash: lastDropped.hash, pruned_events: String(result.events) }]);
    });

    it('deletes the rollups of the dropped months, and only those (events still kept stay counted)', async () => {
      // Rollups go with their events: up to the end of the last dropped month, not up to the cutoff.
      const keptFrom = expectedDropped.length ? monthEnd(expectedDropped[expectedDropped.length - 1]) : new Date(0);
      const hourly = (await t.db.query(`SELECT * FROM "audit_rollup_hourly" ORDER BY "bucket", "type", "outcome"`)).rows;
      expect(hourly.filter((r) => r.bucket < keptFrom)).toEqual([]);
      const newer = rollupsBefore.filter((r) => r.bucket >= keptFrom);
      expect(newer.length).toBeGreaterThan(0);
      // what was newer is untouched (the audit.prune event adds its own bucket)
      expect(hourly.filter((r) => r.type !== 'audit.prune')).toEqual(newer);
      // every event still stored is still counted by the hourly rollups
      const kept = (await storedEvents(t)).filter((e) => e.type !== 'audit.prune');
      const counted = hourly.filter((r) => r.type !== 'audit.prune').reduce((n, r) => n + Number(r.count), 0);
      expect(counted).toBe(kept.length);
      const failures = (await t.db.query(`SELECT "day"::text AS day, "kind", "key", "count"::int AS count FROM "audit_failure_rollup_daily" ORDER BY 1, 2, 3`)).rows;
      const keptFromDay = keptFrom.toISOString().slice(0, 10);
      expect(failures.filter((r) => r.day < keptFromDay)).toEqual([]);
      expect(failures).toContainEqual({ day: seeded[6].occurredAt.slice(0, 10), kind: 'ip', key: '10.5.0.5', count: 1 });
    });

    it('the chain still verifies, from the anchor', async () => {
      const auditor = await createUser(t, { role: 'auditor' });
      const total = (await storedEvents(t)).length;
      const r = await t.request('GET', '/api/audit/verify', { token: auditor.token });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ ok: true, checked: total, firstBrokenId: null, fromId: result.firstRetainedId });
      const listed = await t.request('GET', '/api/audit/events?limit=1000', { token: auditor.token });
      expect(listed.body.items).toHaveLength(total);
    });

    it('a second prune finds nothing to drop and records nothing', async () => {
      const count = (await storedEvents(t)).length;
      const again = await maintenance.prune(now);
      expect(again).toEqual({ cutoff: cutoff.toISOString(), partitions: [], events: 0, firstRetainedId: null });
      expect((await storedEvents(t)).length).toBe(count);
    });

    it('the app still cannot UPDATE, DELETE or TRUNCATE events', async () => {
      const ds = t.app.get(DataSource);
      const before = await storedEvents(t);
      const target = before[before.length - 1].id;
      const current = partitionOf(new Date());
      for (const sql of [
        `DELETE FROM "audit_event" WHERE "id" = ${target}`,
        `UPDATE "audit_event" SET "outcome" = 'failure' WHERE "id" = ${target}`,
        `TRUNCATE "audit_event"`,
        `DELETE FROM "${current}"`,
        `TRUNCATE "${current}"`,
      ]) {
        await expect(ds.query(sql)).rejects.toThrow(/audit_event is append-only: (DELETE|UPDATE|TRUNCATE) refused/);
      }
      expect(await storedEvents(t)).toEqual(before);
    });
  });
});
