import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `audit_forward_cursor`: how far each audit stream (the syslog stream to a SIEM, docs/siem.md) has
 * delivered the audit chain: the last event id and the last checkpoint sequence sent and settled.
 * The forwarder of one instance at a time (an advisory lock) resumes from it after a restart, a
 * kill -9 or a receiver outage; retention keeps every event after it.
 */
export class AuditForwardCursor1795810000000 implements MigrationInterface {
  name = 'AuditForwardCursor1795810000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "audit_forward_cursor" (
        "stream" varchar(32) PRIMARY KEY,
        "last_id" bigint NOT NULL,
        "checkpoint_seq" bigint NOT NULL DEFAULT 0,
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "audit_forward_cursor"`);
  }
}
