import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { to as copyTo, type CopyToStreamQuery } from 'pg-copy-streams';
import type pg from 'pg';
import QueryStream from 'pg-query-stream';
import type { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { openDedicatedConnection } from '../database/dedicated-connection.js';
import type { AuditEvent, AuditFilters, ExportFormat } from './audit.types.js';

/** An event as the writer holds it before the database numbers, times and chains it. */
export type BatchEvent = Omit<AuditEvent, 'id' | 'hash'>;

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
 * JavaScript array, written in one pass (pg's generic conversion is a visible part of the
 * validate path's time).
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

const COLUMNS = `"id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash"`;

/** A row of audit_event as the driver returns it. */
export interface AuditEventRow {
  id: string;
  occurred_at: Date;
  type: string;
  outcome: string;
  actor_user_id: string | null;
  token_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  latency_ms: number | null;
  details: Record<string, unknown>;
  hash: string;
}

export function toEvent(r: AuditEventRow): AuditEvent {
  return {
    id: String(r.id),
    occurredAt: r.occurred_at.toISOString(),
    type: r.type,
    outcome: r.outcome,
    actorUserId: r.actor_user_id,
    tokenId: r.token_id,
    ip: r.ip,
    userAgent: r.user_agent,
    requestId: r.request_id,
    latencyMs: r.latency_ms,
    details: r.details ?? {},
    hash: typeof r.hash === 'string' ? r.hash.trim() : r.hash,
  };
}

const ISO_MS = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/** Text a spreadsheet would run as a formula (= + - @ tab CR first) gets a leading quote: user agents are attacker-controlled. */
const formulaSafe = (col: string): string => `CASE WHEN ${col} ~ '^[=+@\\t\\r-]' THEN '''' || ${col} ELSE ${col} END`;

/**
 * CSV columns (RFC 4180 quoting by PostgreSQL; NULL is an empty field). Newlines are LF. The free-text
 * columns (ip, user agent, request id) are formula-safe: requests only ever give an IP address, but
 * the column is text and the export does not rely on every writer of it. The other columns hold what
 * the service writes in fixed forms (numbers, uuids, ISO times, types and outcomes, hex hashes), and
 * details is the jsonb text of an object, which starts with `{`.
 */
const CSV_SELECT = `SELECT "id", to_char("occurred_at" AT TIME ZONE 'UTC', ${ISO_MS}) AS "occurredAt", "type", "outcome",
  "actor_user_id" AS "actorUserId", "token_id" AS "tokenId", ${formulaSafe('"ip"')} AS "ip", ${formulaSafe('"user_agent"')} AS "userAgent",
  ${formulaSafe('"request_id"')} AS "requestId", "latency_ms" AS "latencyMs", "details"::text AS "details", "hash"`;

/** The header line PostgreSQL writes for {@link CSV_SELECT}. */
export const CSV_HEADER = 'id,occurredAt,type,outcome,actorUserId,tokenId,ip,userAgent,requestId,latencyMs,details,hash';

/**
 * NDJSON: PostgreSQL sends the plain columns (COPY text format, which is cheap for it) and the
 * export service writes each row as one JSON object (json_build_object per row costs PostgreSQL
 * about twice the CSV's time). The twelve fields, in this order, are what that service parses.
 */
const NDJSON_SELECT = `SELECT "id", to_char("occurred_at" AT TIME ZONE 'UTC', ${ISO_MS}), "type", "outcome", "actor_user_id", "token_id",
  "ip", "user_agent", "request_id", "latency_ms", "details", "hash"`;

/** WHERE clause and parameters for the filters (each served by an index). */
function where(f: AuditFilters, params: unknown[]): string {
  const parts: string[] = [];
  const add = (sql: string, value: unknown): void => {
    params.push(value);
    parts.push(sql.replace('?', `$${params.length}`));
  };
  if (f.type) add(`"type" = ?`, f.type);
  if (f.outcome) add(`"outcome" = ?`, f.outcome);
  if (f.userId) add(`"actor_user_id" = ?`, f.userId);
  if (f.tokenId) add(`"token_id" = ?`, f.tokenId);
  if (f.ip) add(`"ip" = ?`, f.ip);
  if (f.from) add(`"occurred_at" >= ?`, f.from.toISOString());
  if (f.to) add(`"occurred_at" < ?`, f.to.toISOString());
  return parts.length ? `WHERE ${parts.join(' AND ')}` : '';
}

/** Where the retained chain starts (`audit_chain_anchor`). */
export interface ChainAnchor {
  first_id: string;
  prev_hash: string;
  format2_from_id: string;
  /** Events retention has dropped so far. */
  pruned_events: string;
}

/** The chain's last event (`audit_chain_head`). */
export interface ChainHead {
  last_id: string;
  last_hash: string;
}

/** Events in id order, streamed in batches; `destroy()` stops the query. */
export type EventStream = AsyncIterable<AuditEventRow> & { destroy(): void };

/**
 * A read of the whole log on a connection of its own (see openDedicatedConnection), for exports and
 * verifications. `close()` ends the connection, at once if a query is under way (which cancels it).
 */
export class AuditLongRead {
  constructor(private readonly client: pg.Client) {}

  close(): Promise<void> {
    return this.client.end().catch(() => undefined);
  }

  /**
   * Every matching event, newest first, formatted by PostgreSQL (COPY … TO STDOUT): CSV with its
   * header line, or the COPY text rows of the NDJSON columns. The bytes flow with back-pressure.
   */
  copyEvents(f: AuditFilters, format: ExportFormat): CopyToStreamQuery {
    const params: unknown[] = [];
    const filter = where(f, params);
    const select = format === 'csv' ? CSV_SELECT : NDJSON_SELECT;
    const options = format === 'csv' ? `(FORMAT csv, HEADER true)` : '';
    // COPY takes no bind parameters: the (validated) filters are inlined as escaped literals.
    const inlined = filter.replace(/\$(\d+)/g, (_m, i: string) => this.client.escapeLiteral(String(params[Number(i) - 1])));
    return this.client.query(
      copyTo(`COPY (${select} FROM "audit_event" ${inlined} ORDER BY "occurred_at" DESC, "id" DESC) TO STDOUT ${options}`),
    );
  }

  /** The lowest id below `id` (within the range's times, if given), if any. */
  async firstIdBelow(id: string, range: { from?: Date; to?: Date }): Promise<string | undefined> {
    const below: unknown[] = [id];
    if (range.from) below.push(range.from.toISOString());
    if (range.to) below.push(range.to.toISOString());
    const r = await this.client.query<{ id: string }>(
      `SELECT "id" FROM "audit_event" WHERE "id" < $1 ${range.from ? `AND "occurred_at" >= $2` : ''} ${range.to ? `AND "occurred_at" < $${below.length}` : ''} ORDER BY "id" LIMIT 1`,
      below,
    );
    return r.rows[0] === undefined ? undefined : String(r.rows[0].id);
  }

  /** The events from id `fromId` on (before `to`, if given), in id order. */
  eventsFrom(fromId: string, to?: Date): EventStream {
    const params: unknown[] = [fromId];
    let toSql = '';
    if (to) {
      params.push(to.toISOString());
      toSql = `AND "occurred_at" < $2`;
    }
    return this.client.query(
      new QueryStream(`SELECT ${COLUMNS} FROM "audit_event" WHERE "id" >= $1 ${toSql} ORDER BY "id"`, params, { batchSize: 5000 }),
    ) as EventStream & QueryStream;
  }
}

/**
 * Every query of the audit log's events and hash chain (`audit_event`, `audit_chain_head`,
 * `audit_chain_anchor`): the append path, the listing, and the reads of exports and verification.
 * The rollups are in AuditRollupsRepository, retention in AuditRetentionRepository.
 */
@Injectable()
export class AuditRepository {
  private readonly knownMonths = new Set<string>();
  private readonly statementNames = new Map<string, string>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Appends one event in the caller's transaction (`manager`): the chain head stays locked until
   * that transaction ends.
   */
  async appendWithin(manager: EntityManager, event: BatchEvent, digest: string): Promise<void> {
    // The month's partition, if it is missing, on a connection of its own: not under the caller's locks.
    await this.ensurePartitions((sql, params) => this.dataSource.query(sql, params), [event]);
    const params: unknown[] = [];
    await manager.query(`SELECT "audit_append"(${appendArguments([event], [digest], binder(params))})`, params);
  }

  /**
   * Appends a batch of events, and the hooks' statements, in one statement (its own transaction);
   * resolves once they are committed, after the hooks' `committed` callbacks ran.
   */
  async appendBatch(events: readonly BatchEvent[], digests: readonly string[], hooks: readonly BatchHook[]): Promise<void> {
    const params: unknown[] = [];
    const bind = binder(params);
    const append = appendArguments(events, digests, bind);
    // The hooks' statements run first (the FROM list forces them), then the append.
    const statements = hooks.map((hook) => hook(events, bind)).filter((h): h is BatchStatement => h !== undefined);
    const sql =
      statements.length === 0
        ? `SELECT "audit_append"(${append})`
        : `WITH ${statements.map((h, i) => `h${i} AS (${h.sql} RETURNING 1)`).join(', ')}
           SELECT "audit_append"(${append}) FROM ${statements.map((_, i) => `(SELECT count(*) FROM h${i}) AS d${i}`).join(', ')}`;

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
      for (const h of statements) h.committed?.();
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

  /**
   * Up to `limit` matching events, newest first, after the cursor position `after` (keyset on
   * (occurred_at, id)) when given.
   */
  async list(f: AuditFilters, limit: number, after?: { at: string; id: string }): Promise<AuditEvent[]> {
    const params: unknown[] = [];
    let sql = where(f, params);
    if (after) {
      params.push(after.at, after.id);
      sql += `${sql ? ' AND' : 'WHERE'} ("occurred_at", "id") < ($${params.length - 1}::timestamptz, $${params.length}::bigint)`;
    }
    params.push(limit);
    const rows = (await this.dataSource.query(
      `SELECT ${COLUMNS} FROM "audit_event" ${sql} ORDER BY "occurred_at" DESC, "id" DESC LIMIT $${params.length}`,
      params,
    )) as AuditEventRow[];
    return rows.map(toEvent);
  }

  async chainAnchor(): Promise<ChainAnchor | undefined> {
    const [anchor] = (await this.dataSource.query(
      `SELECT "first_id", "prev_hash", "format2_from_id", "pruned_events" FROM "audit_chain_anchor" WHERE "id" = 1`,
    )) as ChainAnchor[];
    return anchor;
  }

  async chainHead(): Promise<ChainHead | undefined> {
    const [head] = (await this.dataSource.query(`SELECT "last_id", "last_hash" FROM "audit_chain_head" WHERE "id" = 1`)) as ChainHead[];
    return head;
  }

  /** The id of the first event at or after `from`, in time order. */
  async firstIdFrom(from: Date): Promise<string | undefined> {
    const [first] = (await this.dataSource.query(
      `SELECT "id" FROM "audit_event" WHERE "occurred_at" >= $1 ORDER BY "occurred_at", "id" LIMIT 1`,
      [from.toISOString()],
    )) as { id: string }[];
    return first?.id;
  }

  /** The stored hash and time of one event. */
  async hashAndTime(id: string): Promise<{ hash: string; occurred_at: Date } | undefined> {
    const [event] = (await this.dataSource.query(`SELECT "hash", "occurred_at" FROM "audit_event" WHERE "id" = $1`, [id])) as {
      hash: string;
      occurred_at: Date;
    }[];
    return event;
  }

  /**
   * Opens a long read on a connection of its own, named `<application>-<purpose>`; `onEnd` runs
   * once when that connection ends (or could not be opened).
   */
  async openLongRead(purpose: 'export' | 'verify', onEnd: () => void): Promise<AuditLongRead> {
    return new AuditLongRead(await openDedicatedConnection(this.dataSource, purpose, onEnd));
  }
}
