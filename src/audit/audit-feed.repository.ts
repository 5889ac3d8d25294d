import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

/** An audit event as a follower of the log reads it (no hash, no user agent). */
export interface FedEvent {
  id: string;
  occurredAt: Date;
  type: string;
  outcome: string;
  actorUserId: string | null;
  tokenId: string | null;
  details: Record<string, unknown>;
}

/**
 * Reads the audit log in id order for those that follow it (the webhook outbox). Every event up to
 * the chain head is committed (a batch holds the head until it commits), so reading up to the head
 * never skips an event that commits later.
 */
@Injectable()
export class AuditFeedRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Up to `limit` events of these types with an id after `cursor`, up to the chain head; and the head read. */
  async committedAfter(
    cursor: string,
    types: readonly string[],
    limit: number,
    m?: EntityManager,
  ): Promise<{ events: FedEvent[]; head: string }> {
    const q = m ?? this.dataSource;
    const [h] = (await q.query(`SELECT "last_id"::text AS head FROM "audit_chain_head" WHERE "id" = 1`)) as { head: string }[];
    const rows = (await q.query(
      `SELECT "id"::text AS id, "occurred_at" AS "occurredAt", "type", "outcome", "actor_user_id" AS "actorUserId",
              "token_id" AS "tokenId", "details"
         FROM "audit_event"
        WHERE "id" > $1::bigint AND "id" <= $2::bigint AND "type" = ANY($3::varchar[])
        ORDER BY "id" LIMIT $4`,
      [cursor, h.head, types, limit],
    )) as FedEvent[];
    return { events: rows, head: h.head };
  }
}
