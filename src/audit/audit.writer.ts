import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { isDatabaseUnavailable } from '../database/db-errors.js';
import { contentDigest } from './audit-hash.js';
import type { AuditEvent, AuditInput } from './audit.types.js';

/** An event as the writer holds it before the database numbers, times and chains it. */
export type BatchEvent = Omit<AuditEvent, 'id' | 'hash'>;

interface Pending {
  event: BatchEvent;
  digest: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A value of the batch's statement: a scalar, or a column of them (sent as an array literal). */
export type BindValue = string | number | null | readonly (string | number | null)[];

/** Binds a value as a parameter of the batch's statement and returns its placeholder, cast to `type`. */
export type Bind = (value: BindValue, type: string) => string;

/** A statement that joins a batch's transaction, and what to do once that batch has committed. */
export interface BatchStatement {
  /** One INSERT, UPDATE or DELETE (without RETURNING), its values bound with `bind`. */
  sql: string;
  /** Called once the batch has committed (never for a batch that failed). */
  committed?: () => void;
}

/**
 * Work that must commit in the same transaction as a batch of events (e.g. token last-use times),
 * built from the batch's events, or nothing. It runs before the events are appended, so that it
 * does not lengthen the chain head's lock.
 */
export type BatchHook = (events: readonly BatchEvent[], bind: Bind) => BatchStatement | undefined;

interface PgClient {
  query(sql: string | { name: string; text: string; values: unknown[] }, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** `"` and `\` are the characters a quoted element of a PostgreSQL array literal escapes. */
const ARRAY_SPECIAL = /["\\]/;
const ARRAY_SPECIALS = /["\\]/g;

/**
 * A PostgreSQL array literal, every element quoted (null as NULL): what pg would send for a
 * JavaScript array, written in one pass (pg's generic conversion was 4.6 % of the process's time).
 */
export function arrayLiteral(values: readonly (string | number | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null) {
      out += 'NULL';
    } else {
      const text = typeof v === 'string' ? v : String(v);
      out += ARRAY_SPECIAL.test(text) ? `"${text.replace(ARRAY_SPECIALS, '\\$&')}"` : `"${text}"`;
    }
  }
  return `${out}}`;
}

/** audit_append's arguments, in order, before the digests: each a column of the batch and its array type. */
const APPENDED_COLUMNS: readonly [(e: BatchEvent) => string | number | null, string][] = [
  [(e) => e.occurredAt, 'timestamptz[]'],
  [(e) => e.type, 'varchar[]'],
  [(e) => e.outcome, 'varchar[]'],
  [(e) => e.actorUserId, 'uuid[]'],
  [(e) => e.tokenId, 'uuid[]'],
  [(e) => e.ip, 'varchar[]'],
  [(e) => e.userAgent, 'varchar[]'],
  [(e) => e.requestId, 'varchar[]'],
  [(e) => e.latencyMs, 'float8[]'],
  [(e) => JSON.stringify(e.details), 'jsonb[]'],
];

/** The event as it is stored: strings made storable and bounded, details cleaned. */
function toBatchEvent(input: AuditInput): BatchEvent {
  return {
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
  };
}

/** A Bind that adds each value to `params` (a column as an array literal). */
function binder(params: unknown[]): Bind {
  return (value, type) => {
    params.push(typeof value === 'object' && value !== null ? arrayLiteral(value) : value);
    return `$${params.length}::${type}`;
  };
}

/** audit_append's arguments for these events and their content digests. */
function appendArguments(events: readonly BatchEvent[], digests: readonly string[], bind: Bind): string {
  return [...APPENDED_COLUMNS.map(([column, type]) => bind(events.map(column), type)), bind(digests, 'text[]')].join(', ');
}

const MAX_BATCH = 1000;
/**
 * Batches under way at once, per instance. One: the next batch gathers every event recorded while
 * this one commits. With two, the second waited for the first's chain-head lock, batches were
 * smaller, and two instances had four batches contending for the head: measured alternated, two
 * instances answered 16 to 38 % more with one (PostgreSQL 154 to 160 µs per answer against 225 to
 * 242), and one instance as many (PostgreSQL 105 to 113 µs against 125 to 138). On a faster
 * machine, one instance answered about 8 % more with two (seven alternated pairs of nine) while
 * the machine had a core to spare, and less when it was busier; two instances 6 to 30 % less
 * (docs/performance-log.md).
 */
const MAX_IN_FLIGHT = 1;

/** PostgreSQL text cannot hold NUL or broken UTF-16: make any string storable, and bounded. */
function clean(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined) return null;
  // Cut first: a cut between the two halves of a character leaves a lone half, which
  // toWellFormed() turns into U+FFFD (else jsonb refuses it, and a text column stores U+FFFD
  // where the in-process digest saw the half: a chain break for verify).
  return value.replaceAll('\u0000', '\uFFFD').slice(0, max).toWellFormed();
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
 * being written go, together, into the next one: one statement, its own
 * transaction, for the whole batch. `record()` resolves only once its event
 * is committed, so a caller can answer after its event is durable.
 *
 * The application hashes each event's content; the database function
 * `audit_append` numbers the events and chains the hashes in id order while
 * it holds the one row of `audit_chain_head`, so that several instances
 * append one after the other and the chain stays whole.
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
  private readonly statementNames = new Map<string, string>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Registers work to run inside every batch's transaction. */
  onBatch(hook: BatchHook): void {
    this.hooks.push(hook);
  }

  record(input: AuditInput): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const event = toBatchEvent(input);
      // Hashed here, before the batch: the database only chains the digests.
      this.queue.push({ event, digest: contentDigest(event), resolve, reject });
      this.schedule();
    });
  }

  /**
   * Appends one event in the caller's transaction: the change it records and the event commit
   * together, or neither does (a change that answers an error is never left without its event).
   * The chain head stays locked from here until that transaction ends, holding up every other
   * append: call it last, just before the commit. For changes, not for the validate route.
   */
  async recordWithin(manager: EntityManager, input: AuditInput): Promise<void> {
    const event = toBatchEvent(input);
    // The month's partition, if it is missing, on a connection of its own: not under the caller's locks.
    await this.ensurePartitions((sql, params) => this.dataSource.query(sql, params), [event]);
    const params: unknown[] = [];
    await manager.query(`SELECT "audit_append"(${appendArguments([event], [contentDigest(event)], binder(params))})`, params);
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
      this.wakeIfIdle();
    });
  }

  /**
   * Wakes flush()'s waiters once nothing is queued, scheduled or under way. Checked where each of
   * those ends: a batch that fails before the scheduled pump runs (no connection to take) ends
   * while a pump is still scheduled, and the pump then finds nothing to do.
   */
  private wakeIfIdle(): void {
    if (this.queue.length === 0 && this.inFlight === 0 && !this.scheduled) for (const resolve of this.idle.splice(0)) resolve();
  }

  /**
   * Starts batches while there are events and fewer than MAX_IN_FLIGHT batches under way; when
   * one commits, the events recorded meanwhile go as the next.
   */
  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < MAX_IN_FLIGHT) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.inFlight += 1;
      void this.writeBatch(batch).finally(() => {
        this.inFlight -= 1;
        if (this.queue.length > 0) this.pump();
        else this.wakeIfIdle();
      });
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    try {
      await this.write(batch);
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length > 1 && !isDatabaseUnavailable(err)) {
        // One bad event must not sink the others: write them one by one.
        for (const p of batch) await this.write([p]).then(p.resolve, (e: unknown) => this.fail([p], e));
      } else {
        this.fail(batch, err);
      }
    }
  }

  private fail(batch: Pending[], err: unknown): void {
    this.logger.error({ err, events: batch.length }, 'audit events not written');
    for (const p of batch) p.reject(err);
  }

  private async write(batch: Pending[]): Promise<void> {
    const events = batch.map((p) => p.event);
    const params: unknown[] = [];
    const bind = binder(params);
    const append = appendArguments(
      events,
      batch.map((p) => p.digest),
      bind,
    );
    // The hooks' statements run first (the FROM list forces them), then the append.
    const hooks = this.hooks.map((hook) => hook(events, bind)).filter((h): h is BatchStatement => h !== undefined);
    const sql =
      hooks.length === 0
        ? `SELECT "audit_append"(${append})`
        : `WITH ${hooks.map((h, i) => `h${i} AS (${h.sql} RETURNING 1)`).join(', ')}
           SELECT "audit_append"(${append}) FROM ${hooks.map((_, i) => `(SELECT count(*) FROM h${i}) AS d${i}`).join(', ')}`;

    const [client, release] = (await (this.dataSource.driver as PostgresDriver).obtainMasterConnection()) as [
      PgClient,
      (err?: unknown) => void,
    ];
    try {
      await this.ensurePartitions((sql, params) => client.query(sql, params), events);
      // One statement, its own transaction: the chain head is locked only while the database
      // appends, and the events are committed when it answers.
      // A named statement: each connection parses and plans it once, not once a batch.
      await client.query({ name: this.statementName(sql), text: sql, values: params });
      release();
      for (const h of hooks) h.committed?.();
    } catch (err) {
      this.knownMonths.clear();
      // A connection that failed mid-batch is not handed back to the pool.
      release(err);
      throw err;
    }
  }

  /** A name per distinct statement text (one with the hooks' statements, one without). */
  private statementName(sql: string): string {
    let name = this.statementNames.get(sql);
    if (!name) {
      name = `hospiai_audit_batch_${this.statementNames.size + 1}`;
      this.statementNames.set(sql, name);
    }
    return name;
  }

  /** The monthly partitions the events need (normally made ahead by the maintenance job). */
  private async ensurePartitions(
    query: (sql: string, params: unknown[]) => Promise<unknown>,
    events: readonly BatchEvent[],
  ): Promise<void> {
    for (const e of events) {
      const month = e.occurredAt.slice(0, 7);
      if (this.knownMonths.has(month)) continue;
      await query(`SELECT "audit_ensure_partition"($1)`, [e.occurredAt]);
      this.knownMonths.add(month);
    }
  }
}
