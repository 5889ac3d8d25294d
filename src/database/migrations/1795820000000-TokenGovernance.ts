import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Token governance (docs/governance.md):
 *
 * - `api_tokens.allowed_ips`: a token's IP allowlist, addresses and CIDR ranges in canonical form
 *   (null: none, every address may use the token); 1 to 50 entries.
 * - `api_tokens.revoked_reason` may also be `policy`: revoked by an admin policy applied to the
 *   existing tokens.
 * - `token_policy`: the admins' policy for new tokens, one row (maximum lifetime, scopes only some
 *   roles may grant, an allowlist required for write scopes). Its defaults change nothing: 365 days
 *   (the lifetime the API already caps), no restricted scope, no allowlist required.
 */
export class TokenGovernance1795820000000 implements MigrationInterface {
  name = 'TokenGovernance1795820000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "api_tokens" ADD "allowed_ips" varchar(43)[]`);
    await q.query(
      `ALTER TABLE "api_tokens" ADD CONSTRAINT "CHK_api_tokens_allowed_ips"
         CHECK ("allowed_ips" IS NULL OR cardinality("allowed_ips") BETWEEN 1 AND 50)`,
    );
    await q.query(`ALTER TABLE "api_tokens" DROP CONSTRAINT "CHK_api_tokens_revoked_reason"`);
    await q.query(
      `ALTER TABLE "api_tokens" ADD CONSTRAINT "CHK_api_tokens_revoked_reason"
         CHECK ("revoked_reason" IN ('revoked', 'rotated', 'owner_disabled', 'policy'))`,
    );
    await q.query(`
      CREATE TABLE "token_policy" (
        "id" smallint PRIMARY KEY DEFAULT 1,
        "max_lifetime_days" integer NOT NULL DEFAULT 365,
        "restricted_scopes" jsonb NOT NULL DEFAULT '{}'::jsonb,
        "allowlist_required_for_write" boolean NOT NULL DEFAULT false,
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        "updated_by" uuid REFERENCES "users" ("id") ON DELETE SET NULL,
        CONSTRAINT "CHK_token_policy_single" CHECK ("id" = 1),
        CONSTRAINT "CHK_token_policy_max_lifetime" CHECK ("max_lifetime_days" BETWEEN 1 AND 365),
        CONSTRAINT "CHK_token_policy_restricted_scopes" CHECK (jsonb_typeof("restricted_scopes") = 'object')
      )`);
    await q.query(`INSERT INTO "token_policy" ("id") VALUES (1)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "token_policy"`);
    await q.query(`UPDATE "api_tokens" SET "revoked_reason" = 'revoked' WHERE "revoked_reason" = 'policy'`);
    await q.query(`ALTER TABLE "api_tokens" DROP CONSTRAINT "CHK_api_tokens_revoked_reason"`);
    await q.query(
      `ALTER TABLE "api_tokens" ADD CONSTRAINT "CHK_api_tokens_revoked_reason"
         CHECK ("revoked_reason" IN ('revoked', 'rotated', 'owner_disabled'))`,
    );
    await q.query(`ALTER TABLE "api_tokens" DROP CONSTRAINT "CHK_api_tokens_allowed_ips"`);
    await q.query(`ALTER TABLE "api_tokens" DROP COLUMN "allowed_ips"`);
  }
}
