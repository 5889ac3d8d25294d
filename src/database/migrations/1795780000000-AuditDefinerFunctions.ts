import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Lets the service run as a role that neither owns the audit tables nor is a superuser
 * (docs/operations.md, "Database roles"): with `DATABASE_MIGRATION_URL`, migrations run as the
 * owner, and the service's role is granted INSERT and SELECT on the audit tables, nothing more
 * (`src/database/service-role.ts`). What the service does to those tables beyond that goes through
 * functions that run as their owner (SECURITY DEFINER, with a fixed search_path so that no object
 * of the caller's can stand in for one of theirs), each doing one fixed job:
 *
 * - `audit_append` moves the chain head (UPDATE) as it appends;
 * - `audit_rollup_catch_up` and `audit_rollup_rebuild` keep the rollups (UPDATE, DELETE);
 * - `audit_ensure_partition` creates the monthly partitions (DDL);
 * - `audit_drop_partitions`, new, does retention's drop: detaches and drops whole monthly
 *   partitions (by name, only this service's form), moves the anchor past them and deletes their
 *   rollups, as `AuditRetentionRepository.dropPartitions` did with the owner's rights.
 *
 * `audit_rollup_add` writes the rollups for its callers and is no longer callable by others.
 * When one role does everything (no `DATABASE_MIGRATION_URL`), nothing changes for it: it owns the
 * functions.
 */
const APPEND_ARGS = `timestamptz[], varchar[], varchar[], uuid[], uuid[], varchar[], varchar[], varchar[], double precision[], jsonb[], text[]`;
const DEFINER = [`"audit_append"(${APPEND_ARGS})`, `"audit_rollup_catch_up"(boolean)`, `"audit_rollup_rebuild"(timestamptz, timestamptz)`];

const ENSURE_PARTITION_BODY = (lock: boolean): string => `
  DECLARE
    m_start timestamptz := date_trunc('month', "at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    m_end timestamptz := (date_trunc('month', "at" AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    part text := 'audit_event_p' || to_char(m_start AT TIME ZONE 'UTC', 'YYYY_MM');
  BEGIN
    IF to_regclass(quote_ident(part)) IS NULL THEN${
      lock
        ? `
      -- Serialises this DDL with the writers of every instance; then looks again: another
      -- instance may have made the partition meanwhile.
      PERFORM 1 FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE;
    END IF;
    IF to_regclass(quote_ident(part)) IS NULL THEN`
        : ''
    }
      EXECUTE format('CREATE TABLE %I PARTITION OF "audit_event" FOR VALUES FROM (%L) TO (%L)', part, m_start, m_end);
      EXECUTE format('CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_guard"()', part);
    END IF;
    RETURN part;
  END`;

/**
 * audit_ensure_partition takes the chain head's lock itself before it creates a partition: the
 * service's role may not lock that row (SELECT … FOR UPDATE needs UPDATE).
 */
const ENSURE_PARTITION = `
  CREATE OR REPLACE FUNCTION "audit_ensure_partition"("at" timestamptz) RETURNS text LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public, pg_temp AS $$${ENSURE_PARTITION_BODY(true)} $$`;
const ENSURE_PARTITION_BEFORE = `
  CREATE OR REPLACE FUNCTION "audit_ensure_partition"("at" timestamptz) RETURNS text LANGUAGE plpgsql AS $$${ENSURE_PARTITION_BODY(false)} $$`;

const DROP_PARTITIONS = `
  CREATE FUNCTION "audit_drop_partitions"(
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
    DELETE FROM "audit_failure_rollup_daily" WHERE "day" < ("p_until" AT TIME ZONE 'UTC')::date;
    RETURN true;
  END $$`;

export class AuditDefinerFunctions1795780000000 implements MigrationInterface {
  name = 'AuditDefinerFunctions1795780000000';

  async up(q: QueryRunner): Promise<void> {
    for (const fn of DEFINER) {
      await q.query(`ALTER FUNCTION ${fn} SECURITY DEFINER SET search_path = public, pg_temp`);
      await q.query(`REVOKE EXECUTE ON FUNCTION ${fn} FROM PUBLIC`);
    }
    await q.query(ENSURE_PARTITION);
    await q.query(`REVOKE EXECUTE ON FUNCTION "audit_ensure_partition"(timestamptz) FROM PUBLIC`);
    await q.query(
      `REVOKE EXECUTE ON FUNCTION "audit_rollup_add"(bigint, bigint, timestamptz, timestamptz, timestamptz, timestamptz) FROM PUBLIC`,
    );
    await q.query(DROP_PARTITIONS);
    await q.query(`REVOKE EXECUTE ON FUNCTION "audit_drop_partitions"(text[], bigint, text, bigint, timestamptz) FROM PUBLIC`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION "audit_drop_partitions"(text[], bigint, text, bigint, timestamptz)`);
    await q.query(`GRANT EXECUTE ON FUNCTION "audit_ensure_partition"(timestamptz) TO PUBLIC`);
    await q.query(ENSURE_PARTITION_BEFORE);
    await q.query(
      `GRANT EXECUTE ON FUNCTION "audit_rollup_add"(bigint, bigint, timestamptz, timestamptz, timestamptz, timestamptz) TO PUBLIC`,
    );
    for (const fn of DEFINER) {
      await q.query(`GRANT EXECUTE ON FUNCTION ${fn} TO PUBLIC`);
      await q.query(`ALTER FUNCTION ${fn} SECURITY INVOKER RESET search_path`);
    }
  }
}
