import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type pg from 'pg';
import type { DataSource } from 'typeorm';
import { openDedicatedConnection } from '../database/dedicated-connection.js';
import type { AuditCheckpoint } from './audit-checkpoint.js';
import { toEvent, type AuditEventRow } from './audit.repository.js';
import type { AuditEvent } from './audit.types.js';

/**
 * Key of the session-level advisory lock under which one instance at a time forwards the audit
 * stream ("hospiaiF" in ASCII, 0x686f737069616946, in decimal; the checkpoints' is "hospiaiC").
 */
export const FORWARD_LOCK_KEY = '7525360429000911174';

/** How far a stream has delivered: the last event id and the last checkpoint sequence sent. */
export interface ForwardPosition {
  lastId: string;
  checkpointSeq: number;
}

/** How far behind the head of the chain a stream is. */
export interface ForwardLag {
  headId: string;
  cursorId: string;
  events: number;
  /** When the oldest event not yet delivered happened; null when none is waiting. */
  oldestWaiting: Date | null;
}

const EVENT_COLUMNS = `"id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash"`;

/** The stream's cursor, or where it starts: just before the first retained event. */
const CURSOR = `SELECT COALESCE(c."last_id", a."first_id" - 1)::text AS "last_id", COALESCE(c."checkpoint_seq", 0)::text AS "checkpoint_seq"
  FROM "audit_chain_anchor" a LEFT JOIN "audit_forward_cursor" c ON c."stream" = $1 WHERE a."id" = 1`;

/**
 * The forwarder's connection: outside the pool (it lives as long as the forwarding does), holding
 * the session-level advisory lock, so that the lock goes when this instance or its connection dies.
 */
export class AuditForwardSession {
  constructor(private readonly client: pg.Client) {}

  close(): Promise<void> {
    return this.client.end().catch(() => undefined);
  }

  /** Takes the forwarding lock for this connection's life; false when another instance holds it. */
  async tryLock(): Promise<boolean> {
    const r = await this.client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${FORWARD_LOCK_KEY}::bigint) AS "locked"`);
    return r.rows[0].locked;
  }

  async position(stream: string): Promise<ForwardPosition> {
    const r = await this.client.query<{ last_id: string; checkpoint_seq: string }>(CURSOR, [stream]);
    return { lastId: r.rows[0].last_id, checkpointSeq: Number(r.rows[0].checkpoint_seq) };
  }

  /** Moves the stream's cursor forward (never back). */
  async save(stream: string, p: ForwardPosition): Promise<void> {
    await this.client.query(
      `INSERT INTO "audit_forward_cursor" ("stream", "last_id", "checkpoint_seq", "updated_at") VALUES ($1, $2, $3, now())
       ON CONFLICT ("stream") DO UPDATE SET "last_id" = GREATEST("audit_forward_cursor"."last_id", EXCLUDED."last_id"),
         "checkpoint_seq" = GREATEST("audit_forward_cursor"."checkpoint_seq", EXCLUDED."checkpoint_seq"), "updated_at" = now()`,
      [stream, p.lastId, p.checkpointSeq],
    );
  }

  /**
   * Up to `limit` committed events after `id`, in chain order. Ids are given under the chain head's
   * lock, which is held until the appending transaction commits: a smaller id never commits later.
   */
  async eventsAfter(id: string, limit: number): Promise<AuditEvent[]> {
    const r = await this.client.query<AuditEventRow>(`SELECT ${EVENT_COLUMNS} FROM "audit_event" WHERE "id" > $1 ORDER BY "id" LIMIT $2`, [id, limit]);
    return r.rows.map(toEvent);
  }

  /** Up to `limit` signed checkpoints after sequence `seq`, in order. */
  async checkpointsAfter(seq: number, limit: number): Promise<AuditCheckpoint[]> {
    const r = await this.client.query<{
      seq: string;
      last_id: string;
      last_hash: string;
      count: string;
      signed_at: Date;
      prev_checkpoint_hash: string;
      key_id: string;
      signature: string;
      hash: string;
    }>(
      `SELECT "seq", "last_id", "last_hash", "count", "signed_at", "prev_checkpoint_hash", "key_id", "signature", "hash"
         FROM "audit_checkpoint" WHERE "seq" > $1 ORDER BY "seq" LIMIT $2`,
      [seq, limit],
    );
    return r.rows.map((row) => ({
      sequence: Number(row.seq),
      lastId: String(row.last_id),
      lastHash: row.last_hash.trim(),
      count: String(row.count),
      signedAt: row.signed_at.toISOString(),
      previousHash: row.prev_checkpoint_hash.trim(),
      keyId: row.key_id,
      signature: row.signature,
      hash: row.hash.trim(),
    }));
  }
}

/** The queries of `audit_forward_cursor`: the forwarder's session, and the lag and cursor every instance reads. */
@Injectable()
export class AuditForwardRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Opens the forwarder's own connection (`<application>-siem`). */
  async openSession(): Promise<AuditForwardSession> {
    return new AuditForwardSession(await openDedicatedConnection(this.dataSource, 'siem'));
  }

  /** The last event id the stream has delivered (just before the first retained event when it has not started). */
  async cursorId(stream: string): Promise<string> {
    const [row] = (await this.dataSource.query(CURSOR, [stream])) as { last_id: string }[];
    return row.last_id;
  }

  async lag(stream: string): Promise<ForwardLag> {
    const [row] = (await this.dataSource.query(
      `WITH c AS (${CURSOR})
       SELECT h."last_id"::text AS "head", c."last_id" AS "cursor",
         (SELECT e."occurred_at" FROM "audit_event" e WHERE e."id" > c."last_id"::bigint ORDER BY e."id" LIMIT 1) AS "oldest"
         FROM "audit_chain_head" h CROSS JOIN c WHERE h."id" = 1`,
      [stream],
    )) as { head: string; cursor: string; oldest: Date | null }[];
    const events = BigInt(row.head) - BigInt(row.cursor);
    return { headId: row.head, cursorId: row.cursor, events: Number(events > 0n ? events : 0n), oldestWaiting: row.oldest };
  }
}
