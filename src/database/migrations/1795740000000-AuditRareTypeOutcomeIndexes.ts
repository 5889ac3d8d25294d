import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The type index leaves out token validations, and the outcome index the `valid` outcome (which
 * only validations have).
 *
 * Successful validations are nearly every event (one per MCP request), so a filter on
 * `type = 'token.validate'` or `outcome = 'valid'` keeps most rows: the time index, read newest
 * first, finds a page of them at once. The indexes are what finds the rare ones (a login, a
 * revocation, the failures), and those they still hold. A successful validation now writes two
 * index entries less under the chain head's lock (a failed one, one less).
 *
 * A query's `"type" = $1` uses the partial index whenever its value is not the excluded one:
 * PostgreSQL plans a statement's parameters as values, and proves the predicate from them.
 */
export class AuditRareTypeOutcomeIndexes1795740000000 implements MigrationInterface {
  name = 'AuditRareTypeOutcomeIndexes1795740000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IDX_audit_type"`);
    await q.query(`DROP INDEX "IDX_audit_outcome"`);
    await q.query(
      `CREATE INDEX "IDX_audit_type" ON "audit_event" ("type", "occurred_at" DESC, "id" DESC) WHERE "type" <> 'token.validate'`,
    );
    await q.query(
      `CREATE INDEX "IDX_audit_outcome" ON "audit_event" ("outcome", "occurred_at" DESC, "id" DESC) WHERE "outcome" <> 'valid'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IDX_audit_type"`);
    await q.query(`DROP INDEX "IDX_audit_outcome"`);
    await q.query(`CREATE INDEX "IDX_audit_type" ON "audit_event" ("type", "occurred_at" DESC, "id" DESC)`);
    await q.query(`CREATE INDEX "IDX_audit_outcome" ON "audit_event" ("outcome", "occurred_at" DESC, "id" DESC)`);
  }
}
