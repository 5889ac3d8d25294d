-- audit_ensure_partition: the monthly partition of audit_event that holds `at` (UTC months),
-- created if missing, with its own TRUNCATE guard (statement triggers are not inherited).
-- Defined by migration 1795690000000-PartitionAudit.

CREATE OR REPLACE FUNCTION public.audit_ensure_partition(at timestamp with time zone)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
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
  END $function$;
