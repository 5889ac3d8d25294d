-- audit_event_guard: audit_event is append-only: UPDATE, DELETE and TRUNCATE are refused (retention
-- drops whole partitions instead). Each partition also has the row trigger (cloned from the parent)
-- and its own TRUNCATE trigger (made by audit_ensure_partition).
-- Last defined by migration 1795750000000-AuditChainGuards.

CREATE OR REPLACE FUNCTION public.audit_event_guard()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
  BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
  END $function$;

CREATE TRIGGER audit_event_no_update_delete BEFORE DELETE OR UPDATE ON public.audit_event FOR EACH ROW EXECUTE FUNCTION audit_event_guard();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON public.audit_event FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard();
