import type { MigrationInterface, QueryRunner } from 'typeorm';
import { AUDIT_APPEND_WITH_ROLLUPS } from './1795712000000-AuditAppendFunction.js';
import { AUDIT_ROLLUP_REBUILD } from './1795690000000-PartitionAudit.js';

/**
 * The rollups (hourly counts, daily failures per IP and token) leave the append's transaction.
 *
 * Updated by every batch, a few hot rollup rows (this hour's count, the day's failures of a busy
 * address) were rewritten hundreds of times a second while the chain head was locked: a fifth of
 * the database's time per validation. They now follow the events: `audit_rollup_state` records
 * the last event id the rollups count, and `audit_rollup_catch_up()` adds the events after it,
 * up to the chain head, in one pass. Each instance calls it every second, and the stats read
 * calls it before reading, so that stats still count every committed event.
 *
 * Why "every event up to the chain head" is exact: a batch holds the chain head's lock until it
 * commits, so when the head says `last_id = n`, every event up to n is committed. Time never goes
 * backwards along the chain, so the events after the watermark are also at or after its time
 * (the partitions before it are not read).
 */
export class AuditRollupsCatchUp1795730000000 implements MigrationInterface {
  name = 'AuditRollupsCatchUp1795730000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "audit_rollup_state" (
        "id" smallint NOT NULL,
        "rolled_up_to" bigint NOT NULL,
        "rolled_up_at" timestamptz,
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "PK_audit_rollup_state" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_audit_rollup_state_single" CHECK ("id" = 1)
      )`);
    // Until now every append updated the rollups: they count every event up to the head.
    await q.query(`
      INSERT INTO "audit_rollup_state" ("id", "rolled_up_to", "rolled_up_at")
      SELECT 1, "last_id", "last_occurred_at" FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE`);

    // Adds to the rollups the events with an id in (after, upto]: to the hourly counts those in
    // [hour_from, hour_to), to the daily failures those in [day_from, day_to). Returns how many
    // events it added to the hourly counts. Used by the catch-up and by a rebuild.
    await q.query(`
      CREATE FUNCTION "audit_rollup_add"(
        "p_after" bigint, "p_upto" bigint, "p_hour_from" timestamptz, "p_hour_to" timestamptz, "p_day_from" timestamptz, "p_day_to" timestamptz
      ) RETURNS bigint LANGUAGE plpgsql AS $$
      DECLARE
        n bigint;
      BEGIN
        WITH g AS (
          SELECT date_trunc('hour', "occurred_at", 'UTC') AS bucket, "type", "outcome", count(*) AS c FROM "audit_event"
           WHERE "id" > "p_after" AND "id" <= "p_upto" AND "occurred_at" >= "p_hour_from" AND "occurred_at" < "p_hour_to"
           GROUP BY 1, 2, 3
        ), hourly AS (
          INSERT INTO "audit_rollup_hourly" ("bucket", "type", "outcome", "count")
          SELECT bucket, "type", "outcome", c FROM g
          ON CONFLICT ("bucket", "type", "outcome") DO UPDATE SET "count" = "audit_rollup_hourly"."count" + EXCLUDED."count"
        )
        SELECT coalesce(sum(c), 0) INTO n FROM g;
        INSERT INTO "audit_failure_rollup_daily" ("day", "type", "kind", "key", "count")
        SELECT d, ty, k, v, count(*) FROM (
          SELECT ("occurred_at" AT TIME ZONE 'UTC')::date AS d, "type" AS ty, 'ip' AS k, "ip" AS v FROM "audit_event"
           WHERE "id" > "p_after" AND "id" <= "p_upto" AND "occurred_at" >= "p_day_from" AND "occurred_at" < "p_day_to"
             AND "ip" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
          UNION ALL
          SELECT ("occurred_at" AT TIME ZONE 'UTC')::date, "type", 'token', "token_id"::text FROM "audit_event"
           WHERE "id" > "p_after" AND "id" <= "p_upto" AND "occurred_at" >= "p_day_from" AND "occurred_at" < "p_day_to"
             AND "token_id" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
        ) f GROUP BY 1, 2, 3, 4
        ON CONFLICT ("day", "type", "kind", "key") DO UPDATE SET "count" = "audit_failure_rollup_daily"."count" + EXCLUDED."count";
        RETURN n;
      END $$`);

    await q.query(`
      CREATE FUNCTION "audit_rollup_catch_up"("p_wait" boolean DEFAULT true) RETURNS bigint LANGUAGE plpgsql AS $$
      DECLARE
        s record;
        hi bigint;
        hi_at timestamptz;
        n bigint;
      BEGIN
        -- One session at a time; with p_wait false, a session that finds another one at work leaves it
        -- to finish (NULL).
        IF "p_wait" THEN
          SELECT "rolled_up_to", "rolled_up_at" INTO s FROM "audit_rollup_state" WHERE "id" = 1 FOR UPDATE;
        ELSE
          SELECT "rolled_up_to", "rolled_up_at" INTO s FROM "audit_rollup_state" WHERE "id" = 1 FOR UPDATE SKIP LOCKED;
          IF NOT FOUND THEN
            RETURN NULL;
          END IF;
        END IF;
        -- Every event up to the head is committed (a batch holds the head until it commits).
        SELECT "last_id", "last_occurred_at" INTO hi, hi_at FROM "audit_chain_head" WHERE "id" = 1;
        IF hi <= s."rolled_up_to" THEN
          RETURN 0;
        END IF;
        -- Time never goes backwards along the chain: the partitions before the watermark's time are not read.
        n := "audit_rollup_add"(s."rolled_up_to", hi, coalesce(s."rolled_up_at", '-infinity'), 'infinity', coalesce(s."rolled_up_at", '-infinity'), 'infinity');
        UPDATE "audit_rollup_state" SET "rolled_up_to" = hi, "rolled_up_at" = hi_at, "updated_at" = now() WHERE "id" = 1;
        RETURN n;
      END $$`);

    // The append without the rollups.
    await q.query(`
      CREATE OR REPLACE FUNCTION "audit_append"(
        "p_at" timestamptz[], "p_type" varchar[], "p_outcome" varchar[], "p_actor" uuid[], "p_token" uuid[],
        "p_ip" varchar[], "p_user_agent" varchar[], "p_request_id" varchar[], "p_latency" float8[],
        "p_details" jsonb[], "p_digest" text[]
      ) RETURNS bigint LANGUAGE plpgsql AS $$
      DECLARE
        n int := cardinality("p_type");
        head record;
        cur_id bigint;
        prev text;
        last_at timestamptz;
        t timestamptz;
        ids bigint[] := '{}';
        ats timestamptz[] := '{}';
        hashes text[] := '{}';
      BEGIN
        IF n IS NULL OR n = 0 THEN
          RETURN NULL;
        END IF;
        SELECT "last_id", "last_hash", "last_occurred_at" INTO head FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE;
        cur_id := head."last_id";
        prev := head."last_hash";
        last_at := head."last_occurred_at";
        FOR i IN 1 .. n LOOP
          cur_id := cur_id + 1;
          -- Time never goes backwards along the chain: a month's partition holds a contiguous range of ids.
          t := date_trunc('milliseconds', "p_at"[i]);
          IF last_at IS NOT NULL AND t < last_at THEN
            t := last_at;
          END IF;
          last_at := t;
          prev := encode(sha256(convert_to(
                    prev || '|' || cur_id::text || '|' || to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '|' || "p_digest"[i],
                    'UTF8')), 'hex');
          ids[i] := cur_id;
          ats[i] := t;
          hashes[i] := prev;
        END LOOP;
        INSERT INTO "audit_event"
          ("id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash")
        SELECT * FROM unnest(ids, ats, "p_type", "p_outcome", "p_actor", "p_token", "p_ip", "p_user_agent", "p_request_id", "p_latency", "p_details", hashes::char(64)[]);
        UPDATE "audit_chain_head" SET "last_id" = cur_id, "last_hash" = prev, "last_occurred_at" = last_at WHERE "id" = 1;
        RETURN cur_id;
      END $$`);

    // A rebuild first catches up (and keeps the watermark locked), then recounts its period from the
    // events up to the watermark: the later ones are the next catch-up's.
    await q.query(`
      CREATE OR REPLACE FUNCTION "audit_rollup_rebuild"("from" timestamptz, "to" timestamptz) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        hi bigint;
      BEGIN
        PERFORM "audit_rollup_catch_up"(true);
        SELECT "rolled_up_to" INTO hi FROM "audit_rollup_state" WHERE "id" = 1;
        DELETE FROM "audit_rollup_hourly" WHERE "bucket" >= date_trunc('hour', "from", 'UTC') AND "bucket" < "to";
        DELETE FROM "audit_failure_rollup_daily"
         WHERE "day" >= ("from" AT TIME ZONE 'UTC')::date AND "day" < ("to" AT TIME ZONE 'UTC')::date + 1;
        PERFORM "audit_rollup_add"(0, hi, date_trunc('hour', "from", 'UTC'), "to",
          (("from" AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC',
          (("to" AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC');
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    // The rollups count every event again before the append takes them back.
    await q.query(`SELECT 1 FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE`);
    await q.query(`SELECT "audit_rollup_catch_up"(true)`);
    await q.query(
      `DROP FUNCTION "audit_append"(timestamptz[], varchar[], varchar[], uuid[], uuid[], varchar[], varchar[], varchar[], float8[], jsonb[], text[])`,
    );
    await q.query(AUDIT_APPEND_WITH_ROLLUPS);
    await q.query(`DROP FUNCTION "audit_rollup_rebuild"(timestamptz, timestamptz)`);
    await q.query(AUDIT_ROLLUP_REBUILD);
    await q.query(`DROP FUNCTION "audit_rollup_catch_up"(boolean)`);
    await q.query(`DROP FUNCTION "audit_rollup_add"(bigint, bigint, timestamptz, timestamptz, timestamptz, timestamptz)`);
    await q.query(`DROP TABLE "audit_rollup_state"`);
  }
}
