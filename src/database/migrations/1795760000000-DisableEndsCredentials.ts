import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Disabling an account ends its credentials for good, so that enabling it again brings none back:
 *
 * - `users.session_epoch` moves on every disable; a session is bound to it (with the password), so
 *   a session opened before the disable stays refused after the account is enabled again.
 * - `api_tokens.revoked_reason` says why a token was revoked: `revoked` (DELETE), `rotated`, or
 *   `owner_disabled` (its owner's account was disabled). Tokens revoked before this migration get
 *   `rotated` when they have a successor, `revoked` otherwise.
 *
 * Accounts disabled when this runs are treated as if disabled now: their tokens are revoked
 * (`owner_disabled`) and their sessions' epoch moves. Validation already refused both while the
 * account stays disabled, so nothing that works today stops working.
 */
export class DisableEndsCredentials1795760000000 implements MigrationInterface {
  name = 'DisableEndsCredentials1795760000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "users" ADD "session_epoch" integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE "api_tokens" ADD "revoked_reason" varchar(32)`);
    await q.query(
      `UPDATE "api_tokens" SET "revoked_reason" = CASE WHEN "replaced_by" IS NOT NULL THEN 'rotated' ELSE 'revoked' END
        WHERE "revoked_at" IS NOT NULL`,
    );
    await q.query(
      `UPDATE "api_tokens" t SET "revoked_at" = now(), "revoked_reason" = 'owner_disabled'
         FROM "users" u
        WHERE u."id" = t."user_id" AND u."disabled_at" IS NOT NULL AND t."revoked_at" IS NULL`,
    );
    await q.query(`UPDATE "users" SET "session_epoch" = 1 WHERE "disabled_at" IS NOT NULL`);
    await q.query(
      `ALTER TABLE "api_tokens" ADD CONSTRAINT "CHK_api_tokens_revoked_reason"
         CHECK ("revoked_reason" IN ('revoked', 'rotated', 'owner_disabled'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "api_tokens" DROP CONSTRAINT "CHK_api_tokens_revoked_reason"`);
    await q.query(`ALTER TABLE "api_tokens" DROP COLUMN "revoked_reason"`);
    await q.query(`ALTER TABLE "users" DROP COLUMN "session_epoch"`);
  }
}
