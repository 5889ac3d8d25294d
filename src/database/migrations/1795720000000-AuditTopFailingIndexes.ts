import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Read-side indexes for the most failing IPs and tokens (the audit stats), which sum the
 * daily failure rollup over up to 400 days:
 * - (kind, day, type, count DESC) INCLUDE (key): each day's (and type's) busiest keys first, read
 *   without the table; it also serves every (kind, day) range scan, so it replaces that index;
 * - (kind, key, day) INCLUDE (type, count): one key's exact total over a period.
 * Nothing changes in what the writer maintains.
 */
export class AuditTopFailingIndexes1795720000000 implements MigrationInterface {
  name = 'AuditTopFailingIndexes1795720000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX "IDX_audit_failure_rollup_kind_day_type_count" ON "audit_failure_rollup_daily" ("kind", "day", "type", "count" DESC) INCLUDE ("key")`,
    );
    await q.query(
      `CREATE INDEX "IDX_audit_failure_rollup_kind_key_day" ON "audit_failure_rollup_daily" ("kind", "key", "day") INCLUDE ("type", "count")`,
    );
    await q.query(`DROP INDEX "IDX_audit_failure_rollup_kind_day"`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX "IDX_audit_failure_rollup_kind_day" ON "audit_failure_rollup_daily" ("kind", "day")`);
    await q.query(`DROP INDEX "IDX_audit_failure_rollup_kind_key_day"`);
    await q.query(`DROP INDEX "IDX_audit_failure_rollup_kind_day_type_count"`);
  }
}
