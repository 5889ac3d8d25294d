import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, QueryRunner } from 'typeorm';
import { isDatabaseUnavailable } from '../database/db-errors.js';
import { eventHash } from './audit-hash.js';
import type { AuditEvent, AuditInput } from './audit.types.js';

interface Pending {
  event: Omit<AuditEvent, 'id' | 'hash'>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Work that must commit in the same transaction as a batch of events (e.g. token last-use times). */
export type BatchHook = (runner: QueryRunner, events: readonly AuditEvent[]) => Promise<void>;

const MAX_BATCH = 1000;

/** PostgreSQL text cannot hold NUL or broken UTF-16: make any string storable, and bounded. */
function clean(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined) return null;
  return value.replaceAll('\u0000', '\uFFFD').toWellFormed().slice(0, max);
}

function cleanDetails(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return clean(value, 2000);
  if (value === null || typeof value !== 'object' || depth > 4) return typeof value === 'object' ? null : value;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => cleanDetails(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value).slice(0, 50)) {
    if (v !== undefined) out[clean(k, 100) as string] = cleanDetails(v, depth + 1);
  }
  return out;
}

/**
 * Appends audit events by group commit: events recorded while a batch is
 * being written go, together, into the next one: one transaction, one
 * INSERT for the whole batch. `record()` resolves only once its event is
 * committed, so a caller can answer after its event is durable.
 *
 * Hashes are chained in id order. The one row of `audit_chain_head` is
 * locked for the duration of a batch, so that several instances append
 * one after the other and the chain stays whole.
 */
@Injectable()
export class AuditWriter implements OnApplicationShutdown {
  private readonly logger = new Logger(AuditWriter.name);
  private queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private readonly hooks: BatchHook[] = [];
  private readonly knownMonths = new Set<string>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Registers work to run inside every batch's transaction. */
  onBatch(hook: BatchHook): void {
    this.hooks.push(hook);
  }

  record(input: AuditInput): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        event: {
          occurredAt: (input.occurredAt ?? new Date()).toISOString(),
          type: input.type,
          outcome: clean(input.outcome, 40) as string,
          actorUserId: input.actorUserId ?? null,
          tokenId: input.tokenId ?? null,
          ip: clean(input.ip, 45),
          userAgent: clean(input.userAgent, 512),
          requestId: clean(input.requestId, 64),
          latencyMs: input.latencyMs === undefined || input.latencyMs === null ? null : Math.round(input.latencyMs * 1000) / 1000,
          details: cleanDetails(input.details ?? {}) as Record<string, unknown>,
        },
        resolve,
        reject,
      });
      this.running ??= this.drain();
    });
  }

  /** Waits for every event recorded so far to be written (or to fail). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  private async drain(): Promise<void> {
    // Let the requests of the current tick join the first batch.
    await new Promise<void>((r) => setImmediate(r));
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          await this.write(batch.map((p) => p.event));
          for (const p of batch) p.resolve();
        } catch (err) {
          if (batch.length > 1 && !isDatabaseUnavailable(err)) {
            // One bad event must not sink the others: write them one by one.
            for (const p of batch) await this.write([p.event]).then(p.resolve, (e: unknown) => this.fail([p], e));
          } else {
            this.fail(batch, err);
          }
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  private fail(batch: Pending[], err: unknown): void {
    this.logger.error({ err, events: batch.length }, 'audit events not written');
    for (const p of batch) p.reject(err);
  }

  private async write(events: Omit<AuditEvent, 'id' | 'hash'>[]): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const [head] = (await runner.query(
        `SELECT "last_id", "last_hash", "last_occurred_at" FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE`,
      )) as { last_id: string; last_hash: string; last_occurred_at: Date | null }[];
      let id = BigInt(head.last_id);
      let prev = head.last_hash;
      // Time never goes backwards along the chain: a month's partition holds a contiguous range of ids.
      let last = head.last_occurred_at ? head.last_occurred_at.getTime() : 0;
      const full: AuditEvent[] = events.map((e) => {
        id += 1n;
        const t = Math.max(Date.parse(e.occurredAt), last);
        last = t;
        const withId = { ...e, id: id.toString(), occurredAt: new Date(t).toISOString() };
        prev = eventHash(prev, withId);
        return { ...withId, hash: prev };
      });
      await this.ensurePartitions(runner, full);
      await runner.query(
        `WITH ev AS (
           INSERT INTO "audit_event"
             ("id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash")
           SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::varchar[], $4::varchar[], $5::uuid[], $6::uuid[],
                                $7::varchar[], $8::varchar[], $9::varchar[], $10::float8[], $11::jsonb[], $12::char(64)[])
           RETURNING "occurred_at", "type", "outcome", "ip", "token_id"
         ), hourly AS (
           INSERT INTO "audit_rollup_hourly" ("bucket", "type", "outcome", "count")
           SELECT date_trunc('hour', "occurred_at", 'UTC'), "type", "outcome", count(*) FROM ev GROUP BY 1, 2, 3
           ON CONFLICT ("bucket", "type", "outcome") DO UPDATE SET "count" = "audit_rollup_hourly"."count" + EXCLUDED."count"
           RETURNING 1
         ), failures AS (
           INSERT INTO "audit_failure_rollup_daily" ("day", "type", "kind", "key", "count")
           SELECT d, t, k, v, count(*) FROM (
             SELECT ("occurred_at" AT TIME ZONE 'UTC')::date AS d, "type" AS t, 'ip' AS k, "ip" AS v FROM ev
              WHERE "ip" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
             UNION ALL
             SELECT ("occurred_at" AT TIME ZONE 'UTC')::date, "type", 'token', "token_id"::text FROM ev
              WHERE "token_id" IS NOT NULL AND "outcome" NOT IN ('valid', 'success', 'already_revoked')
           ) f GROUP BY 1, 2, 3, 4
           ON CONFLICT ("day", "type", "kind", "key") DO UPDATE SET "count" = "audit_failure_rollup_daily"."count" + EXCLUDED."count"
           RETURNING 1
         )
         UPDATE "audit_chain_head" SET "last_id" = $13, "last_hash" = $14, "last_occurred_at" = $15
          WHERE "id" = 1`,
        [
          full.map((e) => e.id),
          full.map((e) => e.occurredAt),
          full.map((e) => e.type),
          full.map((e) => e.outcome),
          full.map((e) => e.actorUserId),
          full.map((e) => e.tokenId),
          full.map((e) => e.ip),
          full.map((e) => e.userAgent),
          full.map((e) => e.requestId),
          full.map((e) => e.latencyMs),
          full.map((e) => JSON.stringify(e.details)),
          full.map((e) => e.hash),
          id.toString(),
          prev,
          new Date(last).toISOString(),
        ],
      );
      for (const hook of this.hooks) await hook(runner, full);
      await runner.commitTransaction();
    } catch (err) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      this.knownMonths.clear();
      throw err;
    } finally {
      await runner.release();
    }
  }

  /** The monthly partitions the batch needs (normally made ahead by the maintenance job). */
  private async ensurePartitions(runner: QueryRunner, events: readonly AuditEvent[]): Promise<void> {
    for (const e of events) {
      const month = e.occurredAt.slice(0, 7);
      if (this.knownMonths.has(month)) continue;
      await runner.query(`SELECT "audit_ensure_partition"($1)`, [e.occurredAt]);
      this.knownMonths.add(month);
    }
  }
}
