import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Revocations as a sequence: each token revocation or rotation, and each change of a user
 * that stops their tokens, gets an id. Instances learn of them at once by LISTEN/NOTIFY,
 * and MCP clients follow them on a stream that resumes from the last id they saw.
 * Also: api_tokens.seq, the creation order of tokens made within the same second.
 */
export class RevocationEvents1795700000000 implements MigrationInterface {
  name = 'RevocationEvents1795700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "revocation_event" (
        "id" bigserial NOT NULL,
        "kind" varchar(10) NOT NULL,
        "subject_id" uuid NOT NULL,
        "occurred_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "PK_revocation_event" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_revocation_event_kind" CHECK ("kind" IN ('token', 'user'))
      )`);
    await q.query(`CREATE INDEX "IDX_revocation_event_occurred" ON "revocation_event" ("occurred_at")`);

    // Creation order of tokens made within the same second (created_at is whole seconds, like the JWT's iat).
    await q.query(`ALTER TABLE "api_tokens" ADD COLUMN "seq" bigint GENERATED ALWAYS AS IDENTITY`);
    await q.query(`DROP INDEX "IDX_api_tokens_user_created"`);
    await q.query(`CREATE INDEX "IDX_api_tokens_user_created" ON "api_tokens" ("user_id", "created_at" DESC, "seq" DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IDX_api_tokens_user_created"`);
    await q.query(`ALTER TABLE "api_tokens" DROP COLUMN "seq"`);
    await q.query(`CREATE INDEX "IDX_api_tokens_user_created" ON "api_tokens" ("user_id", "created_at" DESC, "id" DESC)`);
    await q.query(`DROP TABLE "revocation_event"`);
  }
}
