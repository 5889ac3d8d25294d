-- audit_rollup_rebuild: recounts the rollups of a period from the events themselves.
-- Runs as its owner (SECURITY DEFINER): the service's role may not write these tables itself.
-- Last defined by migration 1795825000000-WebhooksAndTokenUsage.

CREATE OR REPLACE FUNCTION public.audit_rollup_rebuild("from" timestamp with time zone, "to" timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
  DECLARE
    hi bigint;
  BEGIN
    PERFORM "audit_rollup_catch_up"(true);
    SELECT "rolled_up_to" INTO hi FROM "audit_rollup_state" WHERE "id" = 1;
    DELETE FROM "audit_rollup_hourly" WHERE "bucket" >= date_trunc('hour', "from", 'UTC') AND "bucket" < "to";
    DELETE FROM "audit_failure_rollup_daily"
     WHERE "day" >= ("from" AT TIME ZONE 'UTC')::date AND "day" < ("to" AT TIME ZONE 'UTC')::date + 1;
    DELETE FROM "audit_token_rollup_daily"
     WHERE "day" >= ("from" AT TIME ZONE 'UTC')::date AND "day" < ("to" AT TIME ZONE 'UTC')::date + 1;
    PERFORM "audit_rollup_add"(0, hi, date_trunc('hour', "from", 'UTC'), "to",
      (("from" AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC',
      (("to" AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC');
  END $function$;
