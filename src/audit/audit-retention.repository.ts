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
      // Each call takes the chain head's lock before it creates a partition, which serialises this
      // DDL with the writers of every instance (src/database/sql/audit_ensure_partition.sql).
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
    // One function, run as the tables' owner (the service's role may not drop them): see
    // src/database/sql/audit_drop_partitions.sql.
    const [row] = (await this.dataSource.query(`SELECT "audit_drop_partitions"($1::text[], $2, $3, $4, $5) AS dropped`, [
      tables,
      anchor?.firstId ?? null,
      anchor?.prevHash ?? null,
      anchor?.events ?? 0,
      droppedUntil.toISOString(),
    ])) as { dropped: boolean }[];
    return row.dropped;
  }
}
