-- audit_drop_partitions: retention's drop. Holding the chain head, brings the rollups up to it,
-- detaches and drops whole monthly partitions of audit_event (by name, only this service's form;
-- false, dropping nothing, when one is already gone), moves the chain's anchor past them and deletes
-- their rollups. Runs as its owner (SECURITY DEFINER): the service's role may not drop the tables.
-- Last defined by migration 1795825000000-WebhooksAndTokenUsage.

CREATE OR REPLACE FUNCTION public.audit_drop_partitions(p_names text[], p_first_id bigint, p_prev_hash text, p_events bigint, p_until timestamp with time zone)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
    DELETE FROM "audit_failure_rollup_daily" WHERE "day" < ("p_until" AT TIME ZONE 'UTC')::date;
    DELETE FROM "audit_token_rollup_daily" WHERE "day" < ("p_until" AT TIME ZONE 'UTC')::date;
    RETURN true;
  END $function$;
