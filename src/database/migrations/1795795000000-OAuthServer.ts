import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The OAuth 2.1 authorization server for MCP clients (docs/mcp-oauth.md):
 *
 * - `oauth_model` holds what oidc-provider stores (grants, authorization codes, refresh tokens,
 *   sessions, interactions, dynamically registered clients): one row per model and id, the payload
 *   as jsonb, with the columns its adapter looks rows up by. Expired rows are pruned.
 * - `api_tokens.oauth_grant_id`: the grant (consent) an access token was issued under, so that
 *   revoking the grant revokes its tokens at once.
 */
export class OAuthServer1795795000000 implements MigrationInterface {
  name = 'OAuthServer1795795000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "oauth_model" (
         "model" varchar(64) NOT NULL,
         "id" varchar(255) NOT NULL,
         "payload" jsonb NOT NULL,
         "grant_id" varchar(255),
         "uid" varchar(255),
         "user_code" varchar(255),
         "expires_at" timestamptz,
         "consumed_at" timestamptz,
         CONSTRAINT "PK_oauth_model" PRIMARY KEY ("model", "id")
       )`,
    );
    await q.query(`CREATE INDEX "IDX_oauth_model_grant" ON "oauth_model" ("grant_id") WHERE "grant_id" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_oauth_model_uid" ON "oauth_model" ("model", "uid") WHERE "uid" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_oauth_model_user_code" ON "oauth_model" ("model", "user_code") WHERE "user_code" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_oauth_model_expires" ON "oauth_model" ("expires_at") WHERE "expires_at" IS NOT NULL`);
    await q.query(`ALTER TABLE "api_tokens" ADD "oauth_grant_id" varchar(255)`);
    await q.query(`CREATE INDEX "IDX_api_tokens_oauth_grant" ON "api_tokens" ("oauth_grant_id") WHERE "oauth_grant_id" IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IDX_api_tokens_oauth_grant"`);
    await q.query(`ALTER TABLE "api_tokens" DROP COLUMN "oauth_grant_id"`);
    await q.query(`DROP TABLE "oauth_model"`);
  }
}
