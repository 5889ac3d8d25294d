import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks (docs/api.md, "Webhooks") and the per-token daily usage rollup.
 *
 * - `webhook_endpoint`: the endpoints admins register (URL, signing secret, event types, enabled).
 * - `webhook_outbox_state`: how far the dispatcher has read the audit log (the last audit event id
 *   turned into deliveries): events are derived from committed audit events, so none is lost.
 * - `webhook_reminder`: the expiry reminders already emitted, one row per token and kind.
 * - `webhook_delivery`: one row per event and endpoint, with its attempts and last answer.
 * - `audit_token_rollup_daily`: validations and introspections per token, UTC day and address
 *   (accepted and refused), kept by `audit_rollup_add` like the other rollups, for
 *   `GET /api/tokens/{id}/usage`. Filled here from the events the rollups already count.
 */
const ROLLUP_ADD_ARGS = `bigint, bigint, timestamptz, timestamptz, timestamptz, timestamptz`;

const TOKEN_ROLLUP_INSERT = (where: string): string => `
    INSERT INTO "audit_token_rollup_daily" ("token_id", "day", "ip", "ok", "refused", "last_at")
    SELECT "token_id", ("occurred_at" AT TIME ZONE 'UTC')::date, coalesce("ip", ''),
           count(*) FILTER (WHERE "outcome" = 'valid'), count(*) FILTER (WHERE "outcome" <> 'valid'), max("occurred_at")
      FROM "audit_event"
     WHERE ${where} AND "token_id" IS NOT NULL AND "type" IN ('token.validate', 'token.introspect')
     GROUP BY 1, 2, 3
    ON CONFLICT ("token_id", "day", "ip") DO UPDATE SET "ok" = "audit_token_rollup_daily"."ok" + EXCLUDED."ok",
           "refused" = "audit_token_rollup_daily"."refused" + EXCLUDED."refused",
           "last_at" = greatest("audit_token_rollup_daily"."last_at", EXCLUDED."last_at")`;

const ROLLUP_ADD = (withTokens: boolean): string => `
  CREATE OR REPLACE FUNCTION "audit_rollup_add"(
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
    ON CONFLICT ("day", "type", "kind", "key") DO UPDATE SET "count" = "audit_failure_rollup_daily"."count" + EXCLUDED."count";${
      withTokens
        ? `
    -- Validations and introspections per token, day and address.${TOKEN_ROLLUP_INSERT(
      `"id" > "p_after" AND "id" <= "p_upto" AND "occurred_at" >= "p_day_from" AND "occurred_at" < "p_day_to"`,
    )};`
        : ''
    }
    RETURN n;
  END $$`;

const REBUILD = (withTokens: boolean): string => `
  CREATE OR REPLACE FUNCTION "audit_rollup_rebuild"("from" timestamptz, "to" timestamptz) RETURNS void LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public, pg_temp AS $$
  DECLARE
    hi bigint;
  BEGIN
    PERFORM "audit_rollup_catch_up"(true);
    SELECT "rolled_up_to" INTO hi FROM "audit_rollup_state" WHERE "id" = 1;
    DELETE FROM "audit_rollup_hourly" WHERE "bucket" >= date_trunc('hour', "from", 'UTC') AND "bucket" < "to";
    DELETE FROM "audit_failure_rollup_daily"
     WHERE "day" >= ("from" AT TIME ZONE 'UTC')::date AND "day" < ("to" AT TIME ZONE 'UTC')::date + 1;${
       withTokens
         ? `
    DELETE FROM "audit_token_rollup_daily"
     WHERE "day" >= ("from" AT TIME ZONE 'UTC')::date AND "day" < ("to" AT TIME ZONE 'UTC')::date + 1;`
         : ''
     }
    PERFORM "audit_rollup_add"(0, hi, date_trunc('hour', "from", 'UTC'), "to",
      (("from" AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC',
      (("to" AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC');
  END $$`;

const DROP_PARTITIONS = (withTokens: boolean): string => `
  CREATE OR REPLACE FUNCTION "audit_drop_partitions"(
    "p_names" text[], "p_first_id" bigint, "p_prev_hash" text, "p_events" bigint, "p_until" timestamptz
  ) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  DECLARE
    part text;
  BEGIN
    -- The chain head's lock holds the writers of every instance back while partitions go.
    PERFORM 1 FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE;
    -- The rollups count the dropped events before those go.
    PERFORM "audit_rollup_catch_up"(true);
    FOREACH part IN ARRAY "p_names" LOOP
      IF part !~ '^audit_event_p[0-9]{4}_[0-9]{2}$' THEN
        RAISE EXCEPTION 'not an audit partition: %', part USING ERRCODE = 'invalid_parameter_value';
      END IF;
      -- Already gone: another instance pruned first.
      IF NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                      WHERE i.inhparent = '"audit_event"'::regclass AND c.relname = part) THEN
        RETURN false;
      END IF;
    END LOOP;
    FOREACH part IN ARRAY "p_names" LOOP
      EXECUTE format('ALTER TABLE "audit_event" DETACH PARTITION %I', part);
      EXECUTE format('DROP TABLE %I', part);
    END LOOP;
    IF "p_first_id" IS NOT NULL THEN
      UPDATE "audit_chain_anchor" SET "first_id" = "p_first_id", "prev_hash" = "p_prev_hash",
             "pruned_events" = "pruned_events" + "p_events", "updated_at" = now() WHERE "id" = 1;
    END IF;
    DELETE FROM "audit_rollup_hourly" WHERE "bucket" < "p_until";
    DELETE FROM "audit_failure_rollup_daily" WHERE "day" < ("p_until" AT TIME ZONE 'UTC')::date;${
      withTokens
        ? `
    DELETE FROM "audit_token_rollup_daily" WHERE "day" < ("p_until" AT TIME ZONE 'UTC')::date;`
        : ''
    }
    RETURN true;
  END $$`;

export class WebhooksAndTokenUsage1795825000000 implements MigrationInterface {
  name = 'WebhooksAndTokenUsage1795825000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "webhook_endpoint" (
        "id" uuid PRIMARY KEY,
        "url" varchar(2048) NOT NULL,
        "secret" varchar(128) NOT NULL,
        "event_types" text[] NOT NULL,
        "enabled" boolean NOT NULL DEFAULT true,
        "description" varchar(200),
        "created_by" uuid REFERENCES "users"("id") ON DELETE SET NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE "webhook_delivery" (
        "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        "endpoint_id" uuid NOT NULL REFERENCES "webhook_endpoint"("id") ON DELETE CASCADE,
        "event_id" varchar(100) NOT NULL,
        "event_type" varchar(40) NOT NULL,
        "payload" jsonb NOT NULL,
        "status" varchar(16) NOT NULL DEFAULT 'pending',
        "attempts" int NOT NULL DEFAULT 0,
        "next_attempt_at" timestamptz,
        "last_attempt_at" timestamptz,
        "last_status_code" int,
        "last_error" varchar(300),
        "created_at" timestamptz NOT NULL,
        "delivered_at" timestamptz,
        CONSTRAINT "UQ_webhook_delivery_event" UNIQUE ("endpoint_id", "event_id"),
        CONSTRAINT "CHK_webhook_delivery_status" CHECK ("status" IN ('pending', 'delivered', 'failed'))
      )`);
    await q.query(`CREATE INDEX "IDX_webhook_delivery_due" ON "webhook_delivery" ("next_attempt_at") WHERE "status" = 'pending'`);
    await q.query(`CREATE INDEX "IDX_webhook_delivery_endpoint" ON "webhook_delivery" ("endpoint_id", "id" DESC)`);
    await q.query(`
      CREATE TABLE "webhook_outbox_state" (
        "id" smallint PRIMARY KEY CHECK ("id" = 1),
        "audit_cursor" bigint NOT NULL,
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`);
    // Events start with those committed after this migration: the history is not replayed.
    await q.query(`INSERT INTO "webhook_outbox_state" ("id", "audit_cursor") SELECT 1, "last_id" FROM "audit_chain_head" WHERE "id" = 1`);
    await q.query(`
      CREATE TABLE "webhook_reminder" (
        "token_id" uuid NOT NULL REFERENCES "api_tokens"("id") ON DELETE CASCADE,
        "kind" varchar(16) NOT NULL,
        "sent_at" timestamptz NOT NULL,
        CONSTRAINT "PK_webhook_reminder" PRIMARY KEY ("token_id", "kind")
      )`);
    await q.query(`CREATE INDEX "IDX_api_tokens_expires_at" ON "api_tokens" ("expires_at") WHERE "revoked_at" IS NULL`);

    await q.query(`
      CREATE TABLE "audit_token_rollup_daily" (
        "token_id" uuid NOT NULL,
        "day" date NOT NULL,
        "ip" varchar(45) NOT NULL,
        "ok" bigint NOT NULL,
        "refused" bigint NOT NULL,
        "last_at" timestamptz NOT NULL,
        CONSTRAINT "PK_audit_token_rollup_daily" PRIMARY KEY ("token_id", "day", "ip")
      )`);
    // The events the rollups already count, while no catch-up runs (its state row is held).
    await q.query(`SELECT 1 FROM "audit_rollup_state" WHERE "id" = 1 FOR UPDATE`);
    await q.query(`${TOKEN_ROLLUP_INSERT(`"id" <= (SELECT "rolled_up_to" FROM "audit_rollup_state" WHERE "id" = 1)`)}`);
    await q.query(ROLLUP_ADD(true));
    await q.query(REBUILD(true));
    await q.query(DROP_PARTITIONS(true));
    await q.query(`REVOKE EXECUTE ON FUNCTION "audit_rollup_add"(${ROLLUP_ADD_ARGS}) FROM PUBLIC`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(DROP_PARTITIONS(false));
    await q.query(REBUILD(false));
    await q.query(ROLLUP_ADD(false));
    await q.query(`DROP TABLE "audit_token_rollup_daily"`);
    await q.query(`DROP INDEX "IDX_api_tokens_expires_at"`);
    await q.query(`DROP TABLE "webhook_reminder"`);
    await q.query(`DROP TABLE "webhook_outbox_state"`);
    await q.query(`DROP TABLE "webhook_delivery"`);
    await q.query(`DROP TABLE "webhook_endpoint"`);
  }
}
