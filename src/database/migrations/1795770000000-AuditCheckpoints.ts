import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `audit_checkpoint`: the signed checkpoints of the audit chain's head (AuditCheckpointService), in
 * signing order. The table serves the listing and gives each new checkpoint its sequence number and
 * the previous checkpoint's hash; verification never trusts it: it reads the checkpoint file kept
 * outside the database and checks every signature.
 */
export class AuditCheckpoints1795770000000 implements MigrationInterface {
  name = 'AuditCheckpoints1795770000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "audit_checkpoint" (
        "seq" bigint PRIMARY KEY,
        "last_id" bigint NOT NULL,
        "last_hash" char(64) NOT NULL,
        "count" bigint NOT NULL,
        "signed_at" timestamptz NOT NULL,
        "prev_checkpoint_hash" char(64) NOT NULL,
        "key_id" varchar(64) NOT NULL,
        "signature" text NOT NULL,
        "hash" char(64) NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "audit_checkpoint"`);
  }
}
