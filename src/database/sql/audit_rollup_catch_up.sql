-- audit_rollup_catch_up: brings the rollups up to the chain head, one session at a time; returns how
-- many events it added (NULL when p_wait is false and another session is at it).
-- Runs as its owner (SECURITY DEFINER): the service's role may not write these tables itself.
-- Last defined by migration 1795780000000-AuditDefinerFunctions.

CREATE OR REPLACE FUNCTION public.audit_rollup_catch_up(p_wait boolean DEFAULT true)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
  END $function$;
