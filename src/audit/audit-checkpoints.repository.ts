import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { AuditCheckpoint } from './audit-checkpoint.js';

/**
 * Key of the transaction-level advisory lock under which one instance at a time signs a checkpoint
 * ("hospiaiC" in ASCII, 0x686f737069616943, in decimal; the migrations' lock is "hospiai\0").
 */
export const CHECKPOINT_LOCK_KEY = '7525360429000911171';

interface CheckpointRow {
  seq: string;
  last_id: string;
  last_hash: string;
  count: string;
  signed_at: Date;
  prev_checkpoint_hash: string;
  key_id: string;
  signature: string;
  hash: string;
}

function toCheckpoint(r: CheckpointRow): AuditCheckpoint {
  return {
    sequence: Number(r.seq),
    lastId: String(r.last_id),
    lastHash: r.last_hash.trim(),
    count: String(r.count),
    signedAt: r.signed_at.toISOString(),
    previousHash: r.prev_checkpoint_hash.trim(),
    keyId: r.key_id,
    signature: r.signature,
    hash: r.hash.trim(),
  };
}

const COLUMNS = `"seq", "last_id", "last_hash", "count", "signed_at", "prev_checkpoint_hash", "key_id", "signature", "hash"`;

/** The queries of `audit_checkpoint`, and the chain state a checkpoint signs. */
@Injectable()
export class AuditCheckpointsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Takes the signing lock for the caller's transaction; false when another instance holds it. */
  async tryLockSigning(m: EntityManager): Promise<boolean> {
    const [row] = (await m.query(`SELECT pg_try_advisory_xact_lock(${CHECKPOINT_LOCK_KEY}::bigint) AS "locked"`)) as { locked: boolean }[];
    return row.locked;
  }

  /**
   * The chain head and, from the anchor, how many events the chain has held up to it: those pruned
   * by retention, and the retained ones (ids are consecutive from the anchor's first id).
   */
  async headAndCount(m: EntityManager): Promise<{ lastId: string; lastHash: string; count: string }> {
    const [row] = (await m.query(
      `SELECT h."last_id", h."last_hash", (a."pruned_events" + h."last_id" - a."first_id" + 1)::text AS "count"
         FROM "audit_chain_head" h CROSS JOIN "audit_chain_anchor" a WHERE h."id" = 1 AND a."id" = 1`,
    )) as { last_id: string; last_hash: string; count: string }[];
    return { lastId: String(row.last_id), lastHash: row.last_hash.trim(), count: row.count };
  }

  async last(m?: EntityManager): Promise<AuditCheckpoint | undefined> {
    const [row] = (await (m ?? this.dataSource.manager).query(
      `SELECT ${COLUMNS} FROM "audit_checkpoint" ORDER BY "seq" DESC LIMIT 1`,
    )) as CheckpointRow[];
    return row ? toCheckpoint(row) : undefined;
  }

  async insert(c: AuditCheckpoint, m: EntityManager): Promise<void> {
    await m.query(`INSERT INTO "audit_checkpoint" (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
      c.sequence,
      c.lastId,
      c.lastHash,
      c.count,
      c.signedAt,
      c.previousHash,
      c.keyId,
      c.signature,
      c.hash,
    ]);
  }

  /** Up to `limit` checkpoints, newest first, before sequence `before` when given. */
  async list(limit: number, before?: number): Promise<AuditCheckpoint[]> {
    const rows = (await this.dataSource.query(
      `SELECT ${COLUMNS} FROM "audit_checkpoint" ${before === undefined ? '' : 'WHERE "seq" < $2'} ORDER BY "seq" DESC LIMIT $1`,
      before === undefined ? [limit] : [limit, before],
    )) as CheckpointRow[];
    return rows.map(toCheckpoint);
  }
}
