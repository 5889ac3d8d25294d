import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Appending a batch of audit events becomes one statement, `audit_append(...)`, run in its own
 * transaction: it locks the chain head, numbers the events, chains their hashes, inserts them,
 * updates the rollups and moves the head. The head lock is then held only while PostgreSQL
 * works, never across round trips to the application, so that batches from every instance
 * follow one another at the database's pace.
 *
 * To chain hashes in SQL, the hash is computed in two parts (format 2):
 *   digest = SHA-256(canonical JSON of [type, outcome, actorUserId, tokenId, ip, userAgent,
 *            requestId, latencyMs, details]), computed by the application;
 *   hash   = SHA-256(prevHash | id | occurredAt as ISO-8601 UTC with milliseconds | digest).
 * Events written before this migration keep their format-1 hashes; `audit_chain_anchor.format2_from_id`
 * says where format 2 starts, so that verification checks each event by the format it was written with.
 */
/** audit_append as this migration creates it (it also updated the rollups, until 1795730000000). */
export const AUDIT_APPEND_WITH_ROLLUPS = `
      CREATE FUNCTION "audit_append"(
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

        WITH ev AS (
          INSERT INTO "audit_event"
            ("id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash")
          SELECT * FROM unnest(ids, ats, "p_type", "p_outcome", "p_actor", "p_token", "p_ip", "p_user_agent", "p_request_id", "p_latency", "p_details", hashes::char(64)[])
          RETURNING "occurred_at", "type", "outcome", "ip", "token_id"
        ), hourly AS (
          INSERT INTO "audit_rollup_hourly" ("bucket", "type", "outcome", "count")
          SELECT date_trunc('hour', "occurred_at", 'UTC'), "type", "outcome", count(*) FROM ev GROUP BY 1, 2, 3
          ON CONFLICT ("bucket", "type", "outcome") DO UPDATE SET "count" = "audit_rollup_hourly"."count" + EXCLUDED."count"
          RETURNING 1
        ), failures AS (
          INSERT INTO "audit_failure_rollup_daily" ("day", "type", "kind", "key", "count")
          SELECT d, ty, k, v, count(*) FROM (
            SELECT ("occurred_at" AT TIME ZONE 'UTC')::date AS d, "type" AS ty, 'ip' AS k, "ip" AS v FROM ev
             WHERE "ip" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
            UNION ALL
            SELECT ("occurred_at" AT TIME ZONE 'UTC')::date, "type", 'token', "token_id"::text FROM ev
             WHERE "token_id" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
          ) f GROUP BY 1, 2, 3, 4
          ON CONFLICT ("day", "type", "kind", "key") DO UPDATE SET "count" = "audit_failure_rollup_daily"."count" + EXCLUDED."count"
          RETURNING 1
        )
        UPDATE "audit_chain_head" SET "last_id" = cur_id, "last_hash" = prev, "last_occurred_at" = last_at WHERE "id" = 1;
        RETURN cur_id;
      END $$`;

export class AuditAppendFunction1795712000000 implements MigrationInterface {
  name = 'AuditAppendFunction1795712000000';

  async up(q: QueryRunner): Promise<void> {
    // The primary key (id, occurred_at) already serves every lookup and walk by id: one index
    // less to maintain on every append.
    await q.query(`DROP INDEX "IDX_audit_id"`);
    await q.query(`ALTER TABLE "audit_chain_anchor" ADD COLUMN "format2_from_id" bigint`);
    await q.query(`UPDATE "audit_chain_anchor" SET "format2_from_id" = (SELECT "last_id" + 1 FROM "audit_chain_head" WHERE "id" = 1)`);
    await q.query(`ALTER TABLE "audit_chain_anchor" ALTER COLUMN "format2_from_id" SET NOT NULL`);

    await q.query(AUDIT_APPEND_WITH_ROLLUPS);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `DROP FUNCTION "audit_append"(timestamptz[], varchar[], varchar[], uuid[], uuid[], varchar[], varchar[], varchar[], float8[], jsonb[], text[])`,
    );
    await q.query(`ALTER TABLE "audit_chain_anchor" DROP COLUMN "format2_from_id"`);
    await q.query(`CREATE INDEX "IDX_audit_id" ON "audit_event" ("id")`);
  }
}
