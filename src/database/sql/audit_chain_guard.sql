-- audit_chain_guard: audit_chain_head and audit_chain_anchor keep their one row, which only moves
-- forward (the head's last_id grows; the anchor moves past pruned events), and are never truncated.
-- Defined by migration 1795750000000-AuditChainGuards.

CREATE OR REPLACE FUNCTION public.audit_chain_guard()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
  BEGIN
    IF TG_OP = 'UPDATE' THEN
      IF TG_TABLE_NAME = 'audit_chain_head' THEN
        IF NEW."id" = OLD."id" AND (NEW."last_id" > OLD."last_id" OR NEW IS NOT DISTINCT FROM OLD) THEN
          RETURN NEW;
        END IF;
      ELSIF NEW."id" = OLD."id"
            AND NEW."first_id" >= OLD."first_id"
            AND NEW."pruned_events" >= OLD."pruned_events"
            AND (NEW."first_id" > OLD."first_id" OR NEW."prev_hash" = OLD."prev_hash")
            AND NEW."format2_from_id" = OLD."format2_from_id" THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '% only moves forward: UPDATE refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION '% keeps its row: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
  END $function$;

CREATE TRIGGER audit_chain_head_forward_only BEFORE DELETE OR UPDATE ON public.audit_chain_head FOR EACH ROW EXECUTE FUNCTION audit_chain_guard();
CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON public.audit_chain_head FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_guard();
CREATE TRIGGER audit_chain_anchor_forward_only BEFORE DELETE OR UPDATE ON public.audit_chain_anchor FOR EACH ROW EXECUTE FUNCTION audit_chain_guard();
CREATE TRIGGER audit_chain_anchor_no_truncate BEFORE TRUNCATE ON public.audit_chain_anchor FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_guard();
