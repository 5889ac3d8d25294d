import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { isDatabaseUnavailable } from '../database/db-errors.js';
import { eventHash } from './audit-hash.js';
import type { AuditEvent, AuditInput } from './audit.types.js';

interface Pending {
  event: Omit<AuditEvent, 'id' | 'hash'>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Runs one statement inside the batch's transaction. */
export type BatchQuery = (sql: string, params?: unknown[]) => Promise<unknown>;

/** Work that must commit in the same transaction as a batch of events (e.g. token last-use times). */
export type BatchHook = (query: BatchQuery, events: readonly AuditEvent[]) => Promise<void>;

interface PgClient {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] } & Partial<{ rows: unknown[] }>>;
}

const MAX_BATCH = 1000;
/** Batches under way at once (each on its own connection). */
const MAX_IN_FLIGHT = 3;

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
  private inFlight = 0;
  private scheduled = false;
  private readonly idle: (() => void)[] = [];
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
      this.schedule();
    });
  }

  /** Waits for every event recorded so far to be written (or to fail). */
  async flush(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0 && !this.scheduled) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Let the requests of the current tick join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /**
   * Starts batches while there are events and fewer than MAX_IN_FLIGHT batches under way.
   * The batches still append one after the other (each waits for the chain head's lock),
   * but the next one is ready the moment the previous commits.
   */
  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < MAX_IN_FLIGHT) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.inFlight += 1;
      void this.writeBatch(batch).finally(() => {
        this.inFlight -= 1;
        if (this.queue.length > 0) this.pump();
        else if (this.inFlight === 0 && !this.scheduled) for (const resolve of this.idle.splice(0)) resolve();
      });
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
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

  private fail(batch: Pending[], err: unknown): void {
    this.logger.error({ err, events: batch.length }, 'audit events not written');
    for (const p of batch) p.reject(err);
  }

  private async write(events: Omit<AuditEvent, 'id' | 'hash'>[]): Promise<void> {
    // A raw connection, so that a batch takes three round trips: BEGIN with the head lock,
    // the one statement that appends (events, rollups, chain head), and the hooks with COMMIT.
    const [client, release] = (await (this.dataSource.driver as PostgresDriver).obtainMasterConnection()) as [PgClient, (err?: unknown) => void];
    let inTransaction = false;
    try {
      const opened = (await client.query(
        `BEGIN; SELECT "last_id", "last_hash", "last_occurred_at" FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE`,
      )) as unknown as { rows: { last_id: string; last_hash: string; last_occurred_at: Date | null }[] }[];
      inTransaction = true;
      const [head] = opened[1].rows;
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
      await this.ensurePartitions(client, full);
      await client.query(
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
      const query: BatchQuery = async (sql, params) => (await client.query(sql, params)).rows;
      for (const hook of this.hooks) await hook(query, full);
      await client.query('COMMIT');
      inTransaction = false;
      release();
    } catch (err) {
      if (inTransaction) await client.query('ROLLBACK').catch(() => undefined);
      this.knownMonths.clear();
      // A connection that failed mid-batch is not handed back to the pool.
      release(err);
      throw err;
    }
  }

  /** The monthly partitions the batch needs (normally made ahead by the maintenance job). */
  private async ensurePartitions(client: PgClient, events: readonly AuditEvent[]): Promise<void> {
    for (const e of events) {
      const month = e.occurredAt.slice(0, 7);
      if (this.knownMonths.has(month)) continue;
      await client.query(`SELECT "audit_ensure_partition"($1)`, [e.occurredAt]);
      this.knownMonths.add(month);
    }
  }
}
