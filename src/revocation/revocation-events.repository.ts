import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

export interface RevocationEvent {
  /** Sequence number (revocation_event.id), increasing. */
  id: string;
  kind: 'token' | 'user';
  /** The token id, or the user id (all of that user's tokens). */
  subjectId: string;
  occurredAt: string;
}

/**
 * Key of the transaction-level advisory lock under which a revocation takes its id ("hospiai\1" in
 * ASCII, 0x686f737069616901, in decimal; the migrations' lock is "hospiai\0").
 */
export const REVOCATION_ORDER_LOCK_KEY = '7525360429000911105';

/**
 * Every query on `revocation_event`: the append in the caller's transaction (`m`, opened with
 * `dataSource.transaction`), the reads on the DataSource's manager.
 */
@Injectable()
export class RevocationEventsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Appends a revocation in the caller's transaction, under a transaction-level lock that the next
   * revoking transaction waits for: revocations take their ids in the order they commit.
   */
  async append(kind: RevocationEvent['kind'], subjectId: string, m: EntityManager): Promise<RevocationEvent> {
    await m.query(`SELECT pg_advisory_xact_lock(${REVOCATION_ORDER_LOCK_KEY}::bigint)`);
    const [row] = (await m.query(`INSERT INTO "revocation_event" ("kind", "subject_id") VALUES ($1, $2) RETURNING "id", "occurred_at"`, [
      kind,
      subjectId,
    ])) as { id: string; occurred_at: Date }[];
    return { id: String(row.id), kind, subjectId, occurredAt: row.occurred_at.toISOString() };
  }

  /** Revocations after `afterId`, oldest first (for streams resuming with Last-Event-ID). */
  async since(afterId: string, limit = 1000): Promise<RevocationEvent[]> {
    const rows = (await this.dataSource.query(
      `SELECT "id", "kind", "subject_id", "occurred_at" FROM "revocation_event" WHERE "id" > $1 ORDER BY "id" LIMIT $2`,
      [afterId, limit],
    )) as { id: string; kind: 'token' | 'user'; subject_id: string; occurred_at: Date }[];
    return rows.map((r) => ({ id: String(r.id), kind: r.kind, subjectId: r.subject_id, occurredAt: r.occurred_at.toISOString() }));
  }

  /** The id of the latest revocation (0 when none). */
  async lastId(): Promise<string> {
    const [row] = (await this.dataSource.query(`SELECT COALESCE(max("id"), 0) AS id FROM "revocation_event"`)) as { id: string }[];
    return String(row.id);
  }
}
