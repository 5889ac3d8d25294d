-- audit_append: numbers a batch of events, chains their hashes in id order and inserts them, while
-- it holds the one row of audit_chain_head (so that every instance appends one after the other).
-- The application hashes each event's content (the digests); this hashes the chain link.
-- Runs as its owner (SECURITY DEFINER): the service's role may not write these tables itself.
-- Last defined by migration 1795780000000-AuditDefinerFunctions.

CREATE OR REPLACE FUNCTION public.audit_append(p_at timestamp with time zone[], p_type character varying[], p_outcome character varying[], p_actor uuid[], p_token uuid[], p_ip character varying[], p_user_agent character varying[], p_request_id character varying[], p_latency double precision[], p_details jsonb[], p_digest text[])
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
    INSERT INTO "audit_event"
      ("id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash")
    SELECT * FROM unnest(ids, ats, "p_type", "p_outcome", "p_actor", "p_token", "p_ip", "p_user_agent", "p_request_id", "p_latency", "p_details", hashes::char(64)[]);
    UPDATE "audit_chain_head" SET "last_id" = cur_id, "last_hash" = prev, "last_occurred_at" = last_at WHERE "id" = 1;
    RETURN cur_id;
  END $function$;
