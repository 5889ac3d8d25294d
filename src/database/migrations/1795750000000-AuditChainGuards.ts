import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Closes the ways around the audit log's append-only rule that needed no more than the app's own
 * database rights:
 *
 * - `audit_event` refuses every UPDATE, DELETE and TRUNCATE. Its guard used to let a DELETE through
 *   when the transaction set `hospiai.audit_retention`; retention drops whole monthly partitions
 *   now (`AuditMaintenanceService`), so that exception only served someone deleting events.
 * - The chain head only moves forward: an UPDATE must raise `last_id` (an append) or leave the
 *   row as it was. Deleting the newest events and winding the head back to the last one kept
 *   would otherwise leave a chain that verifies.
 * - The chain's anchor (where the retained chain starts) only moves forward too, as retention
 *   moves it: `first_id` and `pruned_events` never go back, `prev_hash` changes only with
 *   `first_id`, and the format switch (`format2_from_id`) never changes.
 * - Neither row can be deleted, nor either table truncated.
 *
 * What these guards cannot stop is a role that may drop triggers or disable them (the tables'
 * owner, a superuser): docs/security.md says how to keep those rights from the
 * app in production.
 */
const AUDIT_EVENT_GUARD = `
  CREATE OR REPLACE FUNCTION "audit_event_guard"() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
  END $$`;

export class AuditChainGuards1795750000000 implements MigrationInterface {
  name = 'AuditChainGuards1795750000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(AUDIT_EVENT_GUARD);
    await q.query(`
      CREATE FUNCTION "audit_chain_guard"() RETURNS trigger LANGUAGE plpgsql AS $$
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
      END $$`);
    for (const table of ['audit_chain_head', 'audit_chain_anchor']) {
      await q.query(
        `CREATE TRIGGER "${table}_forward_only" BEFORE UPDATE OR DELETE ON "${table}" FOR EACH ROW EXECUTE FUNCTION "audit_chain_guard"()`,
      );
      await q.query(
        `CREATE TRIGGER "${table}_no_truncate" BEFORE TRUNCATE ON "${table}" FOR EACH STATEMENT EXECUTE FUNCTION "audit_chain_guard"()`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['audit_chain_head', 'audit_chain_anchor']) {
      await q.query(`DROP TRIGGER "${table}_forward_only" ON "${table}"`);
      await q.query(`DROP TRIGGER "${table}_no_truncate" ON "${table}"`);
    }
    await q.query(`DROP FUNCTION "audit_chain_guard"()`);
    await q.query(`
      CREATE OR REPLACE FUNCTION "audit_event_guard"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND current_setting('hospiai.audit_retention', true) = 'on' THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
  }
}
