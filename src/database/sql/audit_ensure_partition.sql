-- audit_ensure_partition: the monthly partition of audit_event that holds `at` (UTC months),
-- created if missing, with its own TRUNCATE guard (statement triggers are not inherited).
-- Runs as its owner (SECURITY DEFINER), and takes the chain head's lock before it creates one.
-- Last defined by migration 1795780000000-AuditDefinerFunctions.

CREATE OR REPLACE FUNCTION public.audit_ensure_partition(at timestamp with time zone)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
  DECLARE
    m_start timestamptz := date_trunc('month', "at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    m_end timestamptz := (date_trunc('month', "at" AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    part text := 'audit_event_p' || to_char(m_start AT TIME ZONE 'UTC', 'YYYY_MM');
  BEGIN
    IF to_regclass(quote_ident(part)) IS NULL THEN
      -- Serialises this DDL with the writers of every instance; then looks again: another
      -- instance may have made the partition meanwhile.
      PERFORM 1 FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE;
    END IF;
    IF to_regclass(quote_ident(part)) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF "audit_event" FOR VALUES FROM (%L) TO (%L)', part, m_start, m_end);
      EXECUTE format('CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_guard"()', part);
    END IF;
    RETURN part;
  END $function$;
