import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit log at hospital scale:
 * - `audit_event` becomes range-partitioned by month of `occurred_at`; partitions are created
 *   ahead by the app (`audit_ensure_partition`), and retention drops whole old partitions.
 * - `occurred_at` is non-decreasing along the chain (the writer raises a late event's time to its
 *   predecessor's), so each month holds a contiguous range of ids and pruning removes a prefix of
 *   the chain; `audit_chain_anchor` says where the retained chain starts.
 * - rollups (hourly counts by type and outcome, daily failures by IP and by token), kept in the
 *   writer's transaction, answer the statistics without scanning events.
 */
/** audit_rollup_rebuild as this migration creates it (1795730000000 makes it catch up first). */
export const AUDIT_ROLLUP_REBUILD = `
      CREATE FUNCTION "audit_rollup_rebuild"("from" timestamptz, "to" timestamptz) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM "audit_rollup_hourly" WHERE "bucket" >= date_trunc('hour', "from", 'UTC') AND "bucket" < "to";
        INSERT INTO "audit_rollup_hourly" ("bucket", "type", "outcome", "count")
          SELECT date_trunc('hour', "occurred_at", 'UTC'), "type", "outcome", count(*)
            FROM "audit_event" WHERE "occurred_at" >= date_trunc('hour', "from", 'UTC') AND "occurred_at" < "to"
           GROUP BY 1, 2, 3;
        DELETE FROM "audit_failure_rollup_daily"
         WHERE "day" >= ("from" AT TIME ZONE 'UTC')::date AND "day" < ("to" AT TIME ZONE 'UTC')::date + 1;
        INSERT INTO "audit_failure_rollup_daily" ("day", "type", "kind", "key", "count")
          SELECT d, t, k, v, count(*) FROM (
            SELECT ("occurred_at" AT TIME ZONE 'UTC')::date AS d, "type" AS t, 'ip' AS k, "ip" AS v FROM "audit_event"
             WHERE "occurred_at" >= (("from" AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC'
               AND "occurred_at" < (("to" AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC'
               AND "ip" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
            UNION ALL
            SELECT ("occurred_at" AT TIME ZONE 'UTC')::date, "type", 'token', "token_id"::text FROM "audit_event"
             WHERE "occurred_at" >= (("from" AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC'
               AND "occurred_at" < (("to" AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC'
               AND "token_id" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
          ) f GROUP BY 1, 2, 3, 4;
      END $$`;

export class PartitionAudit1795690000000 implements MigrationInterface {
  name = 'PartitionAudit1795690000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "audit_event" RENAME TO "audit_event_unpartitioned"`);
    await q.query(`DROP TRIGGER "audit_event_no_update_delete" ON "audit_event_unpartitioned"`);
    await q.query(`DROP TRIGGER "audit_event_no_truncate" ON "audit_event_unpartitioned"`);
    await q.query(`ALTER TABLE "audit_event_unpartitioned" RENAME CONSTRAINT "PK_audit_event" TO "PK_audit_event_unpartitioned"`);
    for (const idx of ['IDX_audit_occurred', 'IDX_audit_token', 'IDX_audit_actor', 'IDX_audit_ip', 'IDX_audit_type_outcome']) {
      await q.query(`DROP INDEX "${idx}"`);
    }

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
        CONSTRAINT "PK_audit_event" PRIMARY KEY ("id", "occurred_at")
      ) PARTITION BY RANGE ("occurred_at")`);
    // Each filter is served by an index ending in the listing order (occurred_at, id) descending.
    await q.query(`CREATE INDEX "IDX_audit_occurred" ON "audit_event" ("occurred_at" DESC, "id" DESC)`);
    await q.query(`CREATE INDEX "IDX_audit_id" ON "audit_event" ("id")`);
    await q.query(`CREATE INDEX "IDX_audit_token" ON "audit_event" ("token_id", "occurred_at" DESC, "id" DESC) WHERE "token_id" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_audit_actor" ON "audit_event" ("actor_user_id", "occurred_at" DESC, "id" DESC) WHERE "actor_user_id" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_audit_ip" ON "audit_event" ("ip", "occurred_at" DESC, "id" DESC) WHERE "ip" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_audit_outcome" ON "audit_event" ("outcome", "occurred_at" DESC, "id" DESC)`);
    await q.query(`CREATE INDEX "IDX_audit_type" ON "audit_event" ("type", "occurred_at" DESC, "id" DESC)`);

    await q.query(`
      CREATE FUNCTION "audit_event_guard"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND current_setting('hospiai.audit_retention', true) = 'on' THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION'));
    await q.query(`CREATE TRIGGER "audit_event_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_event" FOR EACH ROW EXECUTE FUNCTION "audit_event_guard"()`);
    await q.query(`CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON "audit_event" FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_guard"()`);

    // Creates the partition of the month holding \`at\` (idempotent). A TRUNCATE of a partition
    // does not fire the parent's statement trigger: each partition gets its own.
    await q.query(`
      CREATE FUNCTION "audit_ensure_partition"("at" timestamptz) RETURNS text LANGUAGE plpgsql AS $$
      DECLARE
        m_start timestamptz := date_trunc('month', "at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        m_end timestamptz := (date_trunc('month', "at" AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
        part text := 'audit_event_p' || to_char(m_start AT TIME ZONE 'UTC', 'YYYY_MM');
      BEGIN
        IF to_regclass(quote_ident(part)) IS NULL THEN
          EXECUTE format('CREATE TABLE %I PARTITION OF "audit_event" FOR VALUES FROM (%L) TO (%L)', part, m_start, m_end);
          EXECUTE format('CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_guard"()', part);
        END IF;
        RETURN part;
      END $$`);

    await q.query(`
      SELECT "audit_ensure_partition"(m)
        FROM generate_series(
               date_trunc('month', LEAST(now(), COALESCE((SELECT min("occurred_at") FROM "audit_event_unpartitioned"), now())) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
               now() + interval '2 months',
               interval '1 month') AS m`);
    await q.query(`INSERT INTO "audit_event" SELECT * FROM "audit_event_unpartitioned" ORDER BY "id"`);
    await q.query(`DROP TABLE "audit_event_unpartitioned"`);

    await q.query(`ALTER TABLE "audit_chain_head" ADD COLUMN "last_occurred_at" timestamptz`);
    await q.query(`UPDATE "audit_chain_head" SET "last_occurred_at" = (SELECT max("occurred_at") FROM "audit_event")`);

    // Where the retained chain starts: the first id kept and the hash of the event before it.
    await q.query(`
      CREATE TABLE "audit_chain_anchor" (
        "id" smallint NOT NULL DEFAULT 1,
        "first_id" bigint NOT NULL,
        "prev_hash" char(64) NOT NULL,
        "pruned_events" bigint NOT NULL DEFAULT 0,
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "PK_audit_chain_anchor" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_audit_chain_anchor_single" CHECK ("id" = 1)
      )`);
    await q.query(`INSERT INTO "audit_chain_anchor" ("id", "first_id", "prev_hash") VALUES (1, 1, repeat('0', 64))`);

    await q.query(`
      CREATE TABLE "audit_rollup_hourly" (
        "bucket" timestamptz NOT NULL,
        "type" varchar(40) NOT NULL,
        "outcome" varchar(40) NOT NULL,
        "count" bigint NOT NULL,
        CONSTRAINT "PK_audit_rollup_hourly" PRIMARY KEY ("bucket", "type", "outcome")
      )`);
    await q.query(`
      CREATE TABLE "audit_failure_rollup_daily" (
        "day" date NOT NULL,
        "type" varchar(40) NOT NULL,
        "kind" varchar(5) NOT NULL,
        "key" varchar(45) NOT NULL,
        "count" bigint NOT NULL,
        CONSTRAINT "PK_audit_failure_rollup_daily" PRIMARY KEY ("day", "type", "kind", "key"),
        CONSTRAINT "CHK_audit_failure_rollup_kind" CHECK ("kind" IN ('ip', 'token'))
      )`);
    await q.query(`CREATE INDEX "IDX_audit_failure_rollup_kind_day" ON "audit_failure_rollup_daily" ("kind", "day")`);

    // Recomputes the rollups of [from, to) from the events (after a bulk load, or to repair them).
    await q.query(AUDIT_ROLLUP_REBUILD);
    await q.query(`SELECT "audit_rollup_rebuild"('-infinity', 'infinity')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION "audit_rollup_rebuild"(timestamptz, timestamptz)`);
    await q.query(`DROP TABLE "audit_failure_rollup_daily"`);
    await q.query(`DROP TABLE "audit_rollup_hourly"`);
    await q.query(`DROP TABLE "audit_chain_anchor"`);
    await q.query(`ALTER TABLE "audit_chain_head" DROP COLUMN "last_occurred_at"`);
    await q.query(`CREATE TABLE "audit_event_flat" (LIKE "audit_event" INCLUDING DEFAULTS)`);
    await q.query(`INSERT INTO "audit_event_flat" SELECT * FROM "audit_event" ORDER BY "id"`);
    await q.query(`DROP TABLE "audit_event"`);
    await q.query(`DROP FUNCTION "audit_ensure_partition"(timestamptz)`);
    await q.query(`ALTER TABLE "audit_event_flat" RENAME TO "audit_event"`);
    await q.query(`ALTER TABLE "audit_event" ADD CONSTRAINT "PK_audit_event" PRIMARY KEY ("id")`);
    await q.query(`CREATE TRIGGER "audit_event_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_event" FOR EACH ROW EXECUTE FUNCTION "audit_event_guard"()`);
    await q.query(`CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON "audit_event" FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_guard"()`);
  }
}
