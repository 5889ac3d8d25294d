-- audit_rollup_add: adds the events with ids in (p_after, p_upto] to the hourly counts and to the
-- daily failures per IP and per token, and to the daily validations per token and address (accepted,
-- refused), within the given time windows.
-- Last defined by migration 1795825000000-WebhooksAndTokenUsage.

CREATE OR REPLACE FUNCTION public.audit_rollup_add(p_after bigint, p_upto bigint, p_hour_from timestamp with time zone, p_hour_to timestamp with time zone, p_day_from timestamp with time zone, p_day_to timestamp with time zone)
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
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
    -- Validations and introspections per token, day and address.
    INSERT INTO "audit_token_rollup_daily" ("token_id", "day", "ip", "ok", "refused", "last_at")
    SELECT "token_id", ("occurred_at" AT TIME ZONE 'UTC')::date, coalesce("ip", ''),
           count(*) FILTER (WHERE "outcome" = 'valid'), count(*) FILTER (WHERE "outcome" <> 'valid'), max("occurred_at")
      FROM "audit_event"
     WHERE "id" > "p_after" AND "id" <= "p_upto" AND "occurred_at" >= "p_day_from" AND "occurred_at" < "p_day_to" AND "token_id" IS NOT NULL AND "type" IN ('token.validate', 'token.introspect')
     GROUP BY 1, 2, 3
    ON CONFLICT ("token_id", "day", "ip") DO UPDATE SET "ok" = "audit_token_rollup_daily"."ok" + EXCLUDED."ok",
           "refused" = "audit_token_rollup_daily"."refused" + EXCLUDED."refused",
           "last_at" = greatest("audit_token_rollup_daily"."last_at", EXCLUDED."last_at");
    RETURN n;
  END $function$;
