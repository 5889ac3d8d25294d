import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Registered MCP servers ("clients" in OAuth terms): they authenticate with a client id and
 * secret to introspect tokens (RFC 7662) and to follow the revocation stream. The secret is
 * shown once; only its SHA-256 is kept (a 256-bit random secret needs no slow hash).
 */
export class McpClients1795710000000 implements MigrationInterface {
  name = 'McpClients1795710000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "mcp_client" (
        "id" uuid NOT NULL,
        "client_id" varchar(64) NOT NULL,
        "name" varchar(100) NOT NULL,
        "secret_hash" char(64) NOT NULL,
        "created_by" uuid,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "revoked_at" timestamptz,
        "last_used_at" timestamptz,
        CONSTRAINT "PK_mcp_client" PRIMARY KEY ("id"),
        CONSTRAINT "UQ_mcp_client_client_id" UNIQUE ("client_id"),
        CONSTRAINT "CHK_mcp_client_client_id" CHECK ("client_id" ~ '^mcp_[A-Za-z0-9_-]+$'),
        CONSTRAINT "FK_mcp_client_created_by" FOREIGN KEY ("created_by") REFERENCES "users" ("id") ON DELETE SET NULL
      )`);
    await q.query(`CREATE INDEX "IDX_mcp_client_created" ON "mcp_client" ("created_at" DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "mcp_client"`);
  }
}
