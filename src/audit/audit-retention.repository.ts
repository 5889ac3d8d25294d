import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** A monthly partition of audit_event: `audit_event_pYYYY_MM`. */
const PARTITION_NAME = /^audit_event_p\d{4}_\d{2}$/;

function partitionName(name: string): string {
  // Partition names are written into DDL and queries as identifiers: only the form this service makes.
  if (!PARTITION_NAME.test(name)) throw new Error(`not an audit partition: ${name}`);
  return name;
}

/**
 * The queries of the audit log's upkeep: the monthly partitions of `audit_event`, made ahead and
 * dropped whole past retention, with the chain's anchor and the rollups that go with them.
 */
@Injectable()
export class AuditRetentionRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Makes the partitions of the months that hold these times, if they are missing. */
  async ensurePartitions(months: readonly Date[]): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      // The chain head lock serialises this DDL with the writers of every instance.
      await m.query(`SELECT 1 FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE`);
      for (const month of months) {
        await m.query(`SELECT "audit_ensure_partition"($1)`, [month.toISOString()]);
      }
    });
  }

  /** The names of audit_event's partitions. */
  async partitions(): Promise<string[]> {
    const rows = (await this.dataSource.query(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '"audit_event"'::regclass`,
    )) as { name: string }[];
    return rows.map((r) => r.name);
  }

  /** How many events a partition holds, and its last one's id and hash. */
  async partitionContent(name: string): Promise<{ events: number; last: { id: string; hash: string } | undefined }> {
    const table = partitionName(name);
    const [stat] = (await this.dataSource.query(`SELECT count(*)::bigint AS n FROM "${table}"`)) as { n: string }[];
    const [last] = (await this.dataSource.query(`SELECT "id", "hash" FROM "${table}" ORDER BY "id" DESC LIMIT 1`)) as {
      id: string;
      hash: string;
    }[];
    return { events: Number(stat.n), last };
  }

  /**
   * In one transaction, holding the chain head: brings the rollups up to the head (they count the
   * dropped events before those go), drops the partitions, moves the chain's anchor to `anchor`
   * (when given: the first retained id, and the last dropped event's hash), and deletes the rollups
   * before `droppedUntil`. Returns false, dropping nothing, when a partition is already gone
   * (another instance pruned first).
   */
  async dropPartitions(
    names: readonly string[],
    anchor: { firstId: string; prevHash: string; events: number } | undefined,
    droppedUntil: Date,
  ): Promise<boolean> {
    const tables = names.map(partitionName);
    return this.dataSource.transaction(async (m) => {
      await m.query(`SELECT 1 FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE`);
      await m.query(`SELECT "audit_rollup_catch_up"(true)`);
      for (const table of tables) {
        const [exists] = (await m.query(`SELECT to_regclass($1) AS r`, [`"${table}"`])) as { r: string | null }[];
        if (!exists?.r) return false;
      }
      for (const table of tables) {
        await m.query(`ALTER TABLE "audit_event" DETACH PARTITION "${table}"`);
        await m.query(`DROP TABLE "${table}"`);
      }
      if (anchor) {
        await m.query(
          `UPDATE "audit_chain_anchor" SET "first_id" = $1, "prev_hash" = $2, "pruned_events" = "pruned_events" + $3, "updated_at" = now() WHERE "id" = 1`,
          [anchor.firstId, anchor.prevHash, anchor.events],
        );
      }
      const until = droppedUntil.toISOString();
      await m.query(`DELETE FROM "audit_rollup_hourly" WHERE "bucket" < $1`, [until]);
      await m.query(`DELETE FROM "audit_failure_rollup_daily" WHERE "day" < ($1::timestamptz AT TIME ZONE 'UTC')::date`, [until]);
      return true;
    });
  }
}
