import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateTokensAndAudit1795680000000 implements MigrationInterface {
  name = 'CreateTokensAndAudit1795680000000';

  async up(q: QueryRunner): Promise<void> {
    // API tokens: only the id (jti) and a SHA-256 fingerprint of the token are kept, never the token.
    await q.query(`
      CREATE TABLE "api_tokens" (
        "id" uuid NOT NULL,
        "user_id" uuid NOT NULL,
        "name" varchar(100) NOT NULL,
        "scopes" text[] NOT NULL,
        "fingerprint" char(64) NOT NULL,
        "created_at" timestamptz NOT NULL,
        "expires_at" timestamptz NOT NULL,
        "revoked_at" timestamptz,
        "last_used_at" timestamptz,
        "last_used_ip" varchar(45),
        "replaced_by" uuid,
        CONSTRAINT "PK_api_tokens" PRIMARY KEY ("id"),
        CONSTRAINT "UQ_api_tokens_fingerprint" UNIQUE ("fingerprint"),
        CONSTRAINT "FK_api_tokens_user" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE,
        CONSTRAINT "CHK_api_tokens_scopes" CHECK (cardinality("scopes") > 0),
        CONSTRAINT "CHK_api_tokens_expiry" CHECK ("expires_at" > "created_at")
      )`);
    await q.query(`CREATE INDEX "IDX_api_tokens_user_created" ON "api_tokens" ("user_id", "created_at" DESC, "id" DESC)`);

    // The audit log: append-only, hash-chained in id order.
    await q.query(`
      CREATE TABLE "audit_event" (
        "id" bigint NOT NULL,
        "occurred_at" timestamptz NOT NULL,
        "type" varchar(40) NOT NULL,
        "outcome" varchar(40) NOT NULL,
        "actor_user_id" uuid,
        "token_id" uuid,
        "ip" varchar(45),
        "user_agent" varchar(512),
        "request_id" varchar(64),
        "latency_ms" double precision,
        "details" jsonb NOT NULL DEFAULT '{}',
        "hash" char(64) NOT NULL,
        CONSTRAINT "PK_audit_event" PRIMARY KEY ("id")
      )`);
    await q.query(`CREATE INDEX "IDX_audit_occurred" ON "audit_event" ("occurred_at" DESC, "id" DESC)`);
    await q.query(`CREATE INDEX "IDX_audit_token" ON "audit_event" ("token_id", "occurred_at" DESC) WHERE "token_id" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_audit_actor" ON "audit_event" ("actor_user_id", "occurred_at" DESC) WHERE "actor_user_id" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_audit_ip" ON "audit_event" ("ip", "occurred_at" DESC) WHERE "ip" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_audit_type_outcome" ON "audit_event" ("type", "outcome", "occurred_at" DESC)`);

    // The end of the chain: one row, locked by each writer while it appends a batch,
    // so that several app instances append one after the other.
    await q.query(`
      CREATE TABLE "audit_chain_head" (
        "id" smallint NOT NULL DEFAULT 1,
        "last_id" bigint NOT NULL,
        "last_hash" char(64) NOT NULL,
        CONSTRAINT "PK_audit_chain_head" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_audit_chain_head_single" CHECK ("id" = 1)
      )`);
    await q.query(`INSERT INTO "audit_chain_head" ("id", "last_id", "last_hash") VALUES (1, 0, repeat('0', 64))`);

    // The database itself refuses to change or remove events. Only the retention
    // job may delete, by setting hospiai.audit_retention for its own transaction.
    await q.query(`
      CREATE FUNCTION "audit_event_guard"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND current_setting('hospiai.audit_retention', true) = 'on' THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`CREATE TRIGGER "audit_event_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_event" FOR EACH ROW EXECUTE FUNCTION "audit_event_guard"()`);
    await q.query(`CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON "audit_event" FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_guard"()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "audit_event"`);
    await q.query(`DROP FUNCTION "audit_event_guard"()`);
    await q.query(`DROP TABLE "audit_chain_head"`);
    await q.query(`DROP TABLE "api_tokens"`);
  }
}
