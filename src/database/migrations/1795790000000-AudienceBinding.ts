import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Audience binding (docs/api.md, "Audience binding"). A registered MCP server is a protected
 * resource: its canonical resource URI (RFC 8707, unique among active servers) and the scopes it
 * accepts (every scope of the catalogue for the servers registered before). An API token may be
 * bound to one resource (`audience`, null: unbound, as before), and a token issued to an OAuth
 * client names that client (`via_client_id`, `via_client_name`).
 */
export class AudienceBinding1795790000000 implements MigrationInterface {
  name = 'AudienceBinding1795790000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE "mcp_client"
        ADD COLUMN "resource_uri" text,
        ADD COLUMN "accepted_scopes" text[] NOT NULL DEFAULT ARRAY['read:data', 'write:data', 'read:bookings', 'write:bookings', 'read:audit']::text[],
        ADD CONSTRAINT "CHK_mcp_client_resource_uri" CHECK (char_length("resource_uri") BETWEEN 1 AND 2048)`);
    // Set by the service on every insert from now on.
    await q.query(`ALTER TABLE "mcp_client" ALTER COLUMN "accepted_scopes" DROP DEFAULT`);
    await q.query(
      `CREATE UNIQUE INDEX "UQ_mcp_client_resource_uri_active" ON "mcp_client" ("resource_uri") WHERE "revoked_at" IS NULL AND "resource_uri" IS NOT NULL`,
    );
    await q.query(`
      ALTER TABLE "api_tokens"
        ADD COLUMN "audience" text,
        ADD COLUMN "via_client_id" text,
        ADD COLUMN "via_client_name" text,
        ADD CONSTRAINT "CHK_api_tokens_audience" CHECK (char_length("audience") BETWEEN 1 AND 2048),
        ADD CONSTRAINT "CHK_api_tokens_via_client_id" CHECK (char_length("via_client_id") BETWEEN 1 AND 2048),
        ADD CONSTRAINT "CHK_api_tokens_via_client_name" CHECK (char_length("via_client_name") BETWEEN 1 AND 200)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE "api_tokens"
        DROP COLUMN "via_client_name",
        DROP COLUMN "via_client_id",
        DROP COLUMN "audience"`);
    await q.query(`DROP INDEX "UQ_mcp_client_resource_uri_active"`);
    await q.query(`ALTER TABLE "mcp_client" DROP COLUMN "accepted_scopes", DROP COLUMN "resource_uri"`);
  }
}
