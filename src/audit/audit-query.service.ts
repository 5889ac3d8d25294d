import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { to as copyTo, type CopyToStreamQuery } from 'pg-copy-streams';
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import type { DataSource } from 'typeorm';
import type { PostgresDataSourceOptions } from 'typeorm/driver/postgres/PostgresDataSourceOptions.js';
import { AppError } from '../common/app-error.js';
import { storableTime } from '../common/timestamps.js';
import { tooManyRequests } from '../rate-limit/too-many-requests.js';
import { eventHash, eventHashFormat1, GENESIS_HASH } from './audit-hash.js';
import type { AuditEvent } from './audit.types.js';

export interface AuditFilters {
  type?: string;
  outcome?: string;
  userId?: string;
  tokenId?: string;
  ip?: string;
  from?: Date;
  to?: Date;
}

export interface AuditPage {
  items: AuditEvent[];
  nextCursor: string | null;
}

export interface StatsBucket {
  start: string;
  total: number;
  outcomes: Record<string, number>;
}

export interface AuditStats {
  from: string;
  to: string;
  interval: 'hour' | 'day';
  type: string | null;
  buckets: StatsBucket[];
  topFailingIps: { ip: string; failures: number }[];
  topFailingTokens: { tokenId: string; failures: number }[];
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstBrokenId: string | null;
  /** Where the checked chain started: the first id retained after pruning, or the first id in the range. */
  fromId: string | null;
  toId: string | null;
}

export type ExportFormat = 'ndjson' | 'csv';

/** How deep the candidate search for the most failing keys reads each day's rollup (see topFailing). */
export const TOP_FAILING_DEPTHS: readonly number[] = [40, 250];

const COLUMNS = `"id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash"`;

interface Row {
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

export function toEvent(r: Row): AuditEvent {
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

const HOUR_MS = 3_600_000;

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

export const CSV_HEADER = 'id,occurredAt,type,outcome,actorUserId,tokenId,ip,userAgent,requestId,latencyMs,details,hash';

/**
 * NDJSON: PostgreSQL sends the plain columns (COPY text format, which is cheap for it) and
 * {@link CopyTextToNdjson} writes each row as one JSON object, the same shape as
 * GET /api/audit/events items. (json_build_object per row cost PostgreSQL twice the CSV's time.)
 */
const NDJSON_SELECT = `SELECT "id", to_char("occurred_at" AT TIME ZONE 'UTC', ${ISO_MS}), "type", "outcome", "actor_user_id", "token_id",
  "ip", "user_agent", "request_id", "latency_ms", "details", "hash"`;

const COPY_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
/** A COPY text field as it was stored: backslash sequences undone (`\N`, NULL, is handled by the callers). */
const copyUnescape = (s: string): string => (s.includes('\\') ? s.replace(/\\([\s\S])/g, (_m, c: string) => COPY_ESCAPES[c] ?? c) : s);
const jsonString = (s: string): string => (s === '\\N' ? 'null' : JSON.stringify(copyUnescape(s)));
/** float8 text is a JSON number, except NaN and ±Infinity, written as strings (as PostgreSQL's to_json does). */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const jsonNumber = (s: string): string => (s === '\\N' ? 'null' : JSON_NUMBER.test(s) ? s : JSON.stringify(s));

/**
 * Turns COPY text rows of {@link NDJSON_SELECT} (tab-separated, one a line: tabs and line breaks
 * inside values are escaped) into NDJSON lines, and counts them. `details` is jsonb's own text,
 * which is JSON already.
 */
class CopyTextToNdjson extends Transform {
  private rest: Buffer | null = null;
  private lines = 0;
  private reported = 0;
  constructor(private readonly onRows?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    // A row ends at a LF byte, which is never part of a multi-byte UTF-8 character.
    const end = buf.lastIndexOf(10);
    if (end === -1) {
      this.rest = buf;
      done();
      return;
    }
    this.rest = end + 1 < buf.length ? buf.subarray(end + 1) : null;
    const text = buf.toString('utf8', 0, end + 1);
    let out = '';
    for (let from = 0; from < text.length;) {
      const nl = text.indexOf('\n', from);
      const f = text.slice(from, nl).split('\t');
      if (f.length !== 12) {
        done(new Error(`export: unexpected COPY row (${f.length} fields)`));
        return;
      }
      out +=
        `{"id":${jsonString(f[0])},"occurredAt":${jsonString(f[1])},"type":${jsonString(f[2])},"outcome":${jsonString(f[3])},` +
        `"actorUserId":${jsonString(f[4])},"tokenId":${jsonString(f[5])},"ip":${jsonString(f[6])},"userAgent":${jsonString(f[7])},` +
        `"requestId":${jsonString(f[8])},"latencyMs":${jsonNumber(f[9])},"details":${copyUnescape(f[10])},"hash":${jsonString(f[11])}}\n`;
      from = nl + 1;
      this.lines += 1;
    }
    if (this.onRows && this.lines - this.reported >= 10000) {
      this.reported = this.lines;
      this.onRows(this.lines);
    }
    done(null, Buffer.from(out, 'utf8'));
  }
  override _flush(done: (err?: Error | null) => void): void {
    if (this.rest) {
      done(new Error('export: the COPY output ended in the middle of a row'));
      return;
    }
    this.onRows?.(this.lines);
    done();
  }
}

/**
 * PostgreSQL ends CSV records with LF; RFC 4180 wants CRLF. Line breaks inside quoted fields
 * stay as they are: the quote state is followed across chunks ("" toggles it twice). Also
 * counts the records (the header excluded).
 */
class CsvRecordEnds extends Transform {
  private inQuotes = false;
  private records = 0;
  private reported = 0;
  constructor(private readonly onRows?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err: null, data: Buffer) => void): void {
    const out = Buffer.allocUnsafe(chunk.length * 2);
    let o = 0;
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 34) this.inQuotes = !this.inQuotes;
      else if (b === 10 && !this.inQuotes) {
        o += chunk.copy(out, o, from, i);
        out[o++] = 13;
        out[o++] = 10;
        from = i + 1;
        this.records += 1;
      }
    }
    o += chunk.copy(out, o, from);
    if (this.onRows && this.records - this.reported >= 10000) {
      this.reported = this.records;
      this.onRows(this.records - 1);
    }
    done(null, out.subarray(0, o));
  }
  override _flush(done: () => void): void {
    this.onRows?.(Math.max(0, this.records - 1));
    done();
  }
}

/**
 * At most this many exports and verifications under way in one instance: each holds a connection
 * of its own and reads the whole log (minutes for a full verification of a large one), so that
 * holders of `read:audit` starting more cannot take every connection PostgreSQL allows, nor the
 * process's time, from the validations. One more is answered 429 with Retry-After.
 */
const MAX_LONG_READS = 4;
const LONG_READ_RETRY_AFTER_SECONDS = 30;
let longReads = 0;

/**
 * Exports and verification read for as long as the log is long: each gets a connection of its
 * own, outside the pool, without the pool's statement and read timeouts (meant for ordinary
 * queries), closed when the read ends. (A pooled client's read timeout is a timer that a streamed
 * query never clears: it would outlive the export by hours and keep a command-line run alive.)
 */
async function longReadClient(dataSource: DataSource, purpose: string): Promise<pg.Client> {
  if (longReads >= MAX_LONG_READS) {
    throw tooManyRequests(LONG_READ_RETRY_AFTER_SECONDS, 'Too many audit exports and verifications under way: try again later');
  }
  longReads += 1;
  let released = false;
  const release = (): void => {
    if (!released) {
      released = true;
      longReads -= 1;
    }
  };
  const options = dataSource.options as PostgresDataSourceOptions;
  const { max: _max, idleTimeoutMillis: _idle, connectionTimeoutMillis, statement_timeout: _st, query_timeout: _qt, application_name, ...rest } =
    (options.extra ?? {}) as Record<string, unknown>;
  const client = new pg.Client({
    ...rest,
    connectionString: options.url,
    connectionTimeoutMillis: connectionTimeoutMillis as number | undefined,
    application_name: `${String(application_name ?? 'hospiai')}-${purpose}`.slice(0, 63),
  });
  client.once('end', release);
  // An error during a read reaches the read itself (the export's stream, the verification's
  // query); one while the connection is idle (the server ending it) only ends it. Without a
  // listener, that 'error' event would end the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SET statement_timeout = 0');
  } catch (err) {
    await client.end().catch(() => undefined);
    release();
    throw err;
  }
  return client;
}

function encodeCursor(e: AuditEvent): string {
  return Buffer.from(`${e.occurredAt}|${e.id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { at: string; id: string } {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const [at, id] = raw.split('|');
  // Only the exact form this API writes: anything else would reach PostgreSQL's casts.
  const valid =
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(at ?? '') && storableTime(at) !== undefined && /^\d{1,19}$/.test(id ?? '');
  if (!valid || BigInt(id) > 9223372036854775807n) {
    throw AppError.badRequest('Invalid request: cursor is not a cursor returned by this API', [
      { field: 'cursor', message: 'cursor is not valid' },
    ]);
  }
  return { at, id };
}

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

/** Reads the audit log for security teams: listing, export, statistics and chain verification. */
@Injectable()
export class AuditQueryService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Newest first, keyset-paginated on (occurred_at, id): no gaps or duplicates while events arrive. */
  async list(f: AuditFilters, limit: number, cursor?: string): Promise<AuditPage> {
    const params: unknown[] = [];
    let sql = where(f, params);
    if (cursor) {
      const c = decodeCursor(cursor);
      params.push(c.at, c.id);
      sql += `${sql ? ' AND' : 'WHERE'} ("occurred_at", "id") < ($${params.length - 1}::timestamptz, $${params.length}::bigint)`;
    }
    params.push(limit + 1);
    const rows = (await this.dataSource.query(
      `SELECT ${COLUMNS} FROM "audit_event" ${sql} ORDER BY "occurred_at" DESC, "id" DESC LIMIT $${params.length}`,
      params,
    )) as Row[];
    const items = rows.slice(0, limit).map(toEvent);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]) : null };
  }

  /**
   * Streams every matching event, newest first. PostgreSQL formats each row
   * (COPY … TO STDOUT) and the bytes flow to the caller with back-pressure:
   * memory stays flat whatever the size. `onRows` receives the running count.
   */
  async export(f: AuditFilters, format: ExportFormat, onRows?: (n: number) => void): Promise<Readable> {
    const params: unknown[] = [];
    const filter = where(f, params);
    const select = format === 'csv' ? CSV_SELECT : NDJSON_SELECT;
    const options = format === 'csv' ? `(FORMAT csv, HEADER true)` : '';
    // An export runs as long as it takes, on a connection of its own, closed when it ends.
    const client = await longReadClient(this.dataSource, 'export');
    // COPY takes no bind parameters: the (validated) filters are inlined as escaped literals.
    const inlined = filter.replace(/\$(\d+)/g, (_m, i: string) => client.escapeLiteral(String(params[Number(i) - 1])));
    const copy: CopyToStreamQuery = client.query(
      copyTo(`COPY (${select} FROM "audit_event" ${inlined} ORDER BY "occurred_at" DESC, "id" DESC) TO STDOUT ${options}`),
    );
    const count = format === 'csv' ? new CsvRecordEnds(onRows) : new CopyTextToNdjson(onRows);
    const body = new PassThrough();
    pipeline(copy, count, body).then(
      () => client.end().catch(() => undefined),
      (err: unknown) => {
        // A client that goes away mid-export: closing the connection cancels the COPY.
        void client.end().catch(() => undefined);
        body.destroy(err instanceof Error ? err : undefined);
      },
    );
    return body;
  }

  /**
   * Adds the events committed since the rollups were last brought up to date (at most about a
   * second's worth: every instance does it each second) and returns how many it added.
   */
  async catchUpRollups(): Promise<number> {
    const [row] = (await this.dataSource.query(`SELECT "audit_rollup_catch_up"(true) AS n`)) as { n: string }[];
    return Number(row.n);
  }

  /** Counts per bucket and outcome, and the IPs and tokens with the most failures, from the rollups. */
  async stats(from: Date, to: Date, interval: 'hour' | 'day', type?: string): Promise<AuditStats> {
    // The rollups follow the events by up to a second: bring them up to every committed event first.
    await this.catchUpRollups();
    // The hour that holds `from`, worked out here: in the WHERE clause, date_trunc in a time zone
    // was evaluated for every row scanned (16 of the 19 ms of a 30-day query).
    const fromHour = new Date(Math.floor(from.getTime() / HOUR_MS) * HOUR_MS);
    const params: unknown[] = [fromHour.toISOString(), to.toISOString()];
    let typeSql = '';
    if (type) {
      params.push(type);
      typeSql = `AND "type" = $3`;
    }
    // Buckets are whole UTC hours: a UTC day is a 24-hour bin from a UTC midnight (date_bin is
    // arithmetic, where date_trunc in a time zone costs a conversion per row).
    const start = interval === 'hour' ? `"bucket"` : `date_bin('1 day', "bucket", '2000-01-01T00:00:00Z')`;
    // Daily failure rollups: the days that the period touches (`to` is exclusive).
    const fromDay = from.toISOString().slice(0, 10);
    const toDay = new Date(to.getTime() - 1).toISOString().slice(0, 10);
    // A period that touches no day (from = to, at midnight) needs no query; on 0001-01-01 the day
    // before would be in year 0, which PostgreSQL refuses.
    const noDay = Promise.resolve({ top: [] as { key: string; n: number }[] });
    const [rows, ips, tokens] = await Promise.all([
      this.dataSource.query(
        `SELECT ${start} AS start, "outcome", sum("count")::bigint AS n
           FROM "audit_rollup_hourly"
          WHERE "bucket" >= $1::timestamptz AND "bucket" < $2::timestamptz ${typeSql}
          GROUP BY 1, 2 ORDER BY 1`,
        params,
      ) as Promise<{ start: Date; outcome: string; n: string }[]>,
      toDay < fromDay ? noDay : this.topFailing('ip', fromDay, toDay, type),
      toDay < fromDay ? noDay : this.topFailing('token', fromDay, toDay, type),
    ]);
    const buckets = new Map<string, StatsBucket>();
    for (const r of rows) {
      const key = r.start.toISOString();
      const b = buckets.get(key) ?? { start: key, total: 0, outcomes: {} };
      const n = Number(r.n);
      b.outcomes[r.outcome] = (b.outcomes[r.outcome] ?? 0) + n;
      b.total += n;
      buckets.set(key, b);
    }
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      interval,
      type: type ?? null,
      buckets: [...buckets.values()],
      topFailingIps: ips.top.map((r) => ({ ip: r.key, failures: r.n })),
      topFailingTokens: tokens.top.map((r) => ({ tokenId: r.key, failures: r.n })),
    };
  }

  /**
   * The 10 keys (IPs or token ids) with the most failures from `fromDay` to `toDay` (inclusive),
   * most first, ties by key: exactly what summing the daily failure rollup per key gives, without
   * summing it all when it can be avoided (a month of token failures is ~200 000 rollup rows).
   *
   * Each (day, type) group of the rollup is read from its busiest key down, `depth` keys deep
   * (an index in that order). A key missing from a group's top has at most that group's
   * `depth`-th count there, so a key missing from every top has at most `bound`, the sum of those
   * counts. The keys seen in the tops are the candidates; a candidate's total lies between its
   * counts in the tops and `bound` plus what those exceed the groups' `depth`-th counts by, and
   * the exact total (another index) is summed for the candidates whose upper bound reaches the
   * 10th best lower bound. The answer is proven when the 10th exact total is above `bound` (or
   * every group was shorter than `depth`: then every key was seen). Otherwise a deeper read is
   * tried, and at last the full aggregation.
   */
  async topFailing(
    kind: 'ip' | 'token',
    fromDay: string,
    toDay: string,
    type?: string,
    depths: readonly number[] = TOP_FAILING_DEPTHS,
  ): Promise<{ top: { key: string; n: number }[]; method: 'candidates' | 'aggregate' }> {
    const typed = type ? `AND "type" = $5` : '';
    for (const depth of depths) {
      // The groups: every day of the period for one type, or the (day, type) pairs present (a skip scan).
      const groups = type
        ? `g AS (SELECT d::date AS "day", $5::varchar AS "type" FROM generate_series($2::date, $3::date, interval '1 day') d)`
        : `g AS (
             (SELECT "day", "type" FROM "audit_failure_rollup_daily" WHERE "kind" = $1 AND "day" >= $2 AND "day" <= $3 ORDER BY "day", "type" LIMIT 1)
             UNION ALL
             SELECT n."day", n."type" FROM g CROSS JOIN LATERAL (
               SELECT "day", "type" FROM "audit_failure_rollup_daily"
                WHERE "kind" = $1 AND ("day", "type") > (g."day", g."type") AND "day" <= $3 ORDER BY "day", "type" LIMIT 1) n)`;
      const rows = (await this.dataSource.query(
        `WITH RECURSIVE ${groups},
         gv AS MATERIALIZED (
           SELECT g."day", g."type", coalesce((SELECT "count" FROM "audit_failure_rollup_daily"
                   WHERE "kind" = $1 AND "day" = g."day" AND "type" = g."type" ORDER BY "count" DESC OFFSET $4 - 1 LIMIT 1), 0) AS nth
             FROM g),
         c AS MATERIALIZED (
           SELECT x."key", sum(x."count") AS lb, sum(x."count" - gv.nth) AS gain
             FROM gv CROSS JOIN LATERAL (
               SELECT "key", "count" FROM "audit_failure_rollup_daily"
                WHERE "kind" = $1 AND "day" = gv."day" AND "type" = gv."type" ORDER BY "count" DESC LIMIT $4) x
            GROUP BY 1),
         b AS (SELECT coalesce(sum(nth), 0) AS bound FROM gv),
         l AS (SELECT coalesce(min(lb), 0) AS l10 FROM (SELECT lb FROM c ORDER BY lb DESC LIMIT 10) s),
         e AS MATERIALIZED (
           SELECT c."key", (SELECT sum(r."count") FROM "audit_failure_rollup_daily" r
                             WHERE r."kind" = $1 AND r."key" = c."key" AND r."day" >= $2 AND r."day" <= $3 ${typed}) AS n
             FROM c, b, l WHERE b.bound + c.gain >= l.l10)
         SELECT e."key", e.n::bigint AS n, b.bound::bigint AS bound FROM b LEFT JOIN e ON true ORDER BY e.n DESC, e."key" LIMIT 10`,
        type ? [kind, fromDay, toDay, depth, type] : [kind, fromDay, toDay, depth],
      )) as { key: string | null; n: string | null; bound: string }[];
      const bound = Number(rows[0].bound);
      const top = rows.filter((r) => r.key !== null).map((r) => ({ key: r.key as string, n: Number(r.n) }));
      if (top.length === 10 ? top[9].n > bound : bound === 0) return { top, method: 'candidates' };
    }
    const rows = (await this.dataSource.query(
      `SELECT "key", sum("count")::bigint AS n FROM "audit_failure_rollup_daily"
        WHERE "kind" = $1 AND "day" >= $2 AND "day" <= $3 ${type ? `AND "type" = $4` : ''}
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`,
      type ? [kind, fromDay, toDay, type] : [kind, fromDay, toDay],
    )) as { key: string; n: string }[];
    return { top: rows.map((r) => ({ key: r.key, n: Number(r.n) })), method: 'aggregate' };
  }

  /**
   * Walks the hash chain in id order, recomputing every hash: an edited,
   * removed or inserted row breaks it at that row. Without a range, it starts
   * where retention left the chain (the anchor) and ends at the chain head,
   * so that a removed last event is found too.
   *
   * With `signal`, an abort (the HTTP client gone) ends the walk at once: its connection is
   * dropped, even while a query is under way, and the long read's place is free again; the walk
   * then rejects.
   */
  async verify(
    range: { from?: Date; to?: Date } = {},
    onProgress?: (checked: number) => void,
    signal?: AbortSignal,
  ): Promise<VerifyResult> {
    const [anchor] = (await this.dataSource.query(`SELECT "first_id", "prev_hash", "format2_from_id" FROM "audit_chain_anchor" WHERE "id" = 1`)) as {
      first_id: string;
      prev_hash: string;
      format2_from_id: string;
    }[];
    // Events before format2_from_id were chained with the format-1 hash.
    const format2From = BigInt(anchor?.format2_from_id ?? '1');
    const [head] = (await this.dataSource.query(`SELECT "last_id", "last_hash" FROM "audit_chain_head" WHERE "id" = 1`)) as {
      last_id: string;
      last_hash: string;
    }[];
    let expectedId = BigInt(anchor?.first_id ?? '1');
    let prev = anchor?.prev_hash ?? GENESIS_HASH;
    /** The previous event's time, once known: along the format-2 chain, time never goes backwards. */
    let prevAt: string | null = null;

    if (range.from) {
      const [first] = (await this.dataSource.query(
        `SELECT "id" FROM "audit_event" WHERE "occurred_at" >= $1 ORDER BY "occurred_at", "id" LIMIT 1`,
        [range.from.toISOString()],
      )) as { id: string }[];
      if (!first) return { ok: true, checked: 0, firstBrokenId: null, fromId: null, toId: null };
      const startId = BigInt(first.id);
      if (startId > expectedId) {
        // The chain before the range is taken as it is stored: start from the previous event's hash.
        const [before] = (await this.dataSource.query(`SELECT "hash", "occurred_at" FROM "audit_event" WHERE "id" = $1`, [
          (startId - 1n).toString(),
        ])) as { hash: string; occurred_at: Date }[];
        if (!before) return { ok: false, checked: 0, firstBrokenId: (startId - 1n).toString(), fromId: first.id, toId: null };
        prev = before.hash;
        prevAt = before.occurred_at.toISOString();
        expectedId = startId;
      }
    }

    const params: unknown[] = [expectedId.toString()];
    let toSql = '';
    if (range.to) {
      params.push(range.to.toISOString());
      toSql = `AND "occurred_at" < $2`;
    }
    const client = await longReadClient(this.dataSource, 'verify');
    /** Ends the walk's connection (at once, if a query is under way), which frees its place. */
    const close = (): Promise<void> => client.end().catch(() => undefined);
    const abandon = (): void => void close();
    if (signal?.aborted) abandon();
    else signal?.addEventListener('abort', abandon, { once: true });
    if (expectedId === BigInt(anchor?.first_id ?? '1')) {
      // Only audit_append writes events, each after the chain head: a row below where the retained
      // chain starts was written some other way (or survived retention), and the walk would not see it.
      const below: unknown[] = [expectedId.toString()];
      if (range.from) below.push(range.from.toISOString());
      if (range.to) below.push(range.to.toISOString());
      const stray = await client
        .query<{ id: string }>(
          `SELECT "id" FROM "audit_event" WHERE "id" < $1 ${range.from ? `AND "occurred_at" >= $2` : ''} ${range.to ? `AND "occurred_at" < $${below.length}` : ''} ORDER BY "id" LIMIT 1`,
          below,
        )
        .then(
          (r) => r.rows[0],
          async (err: unknown) => {
            await close();
            throw err;
          },
        );
      if (stray) {
        await close();
        return { ok: false, checked: 0, firstBrokenId: String(stray.id), fromId: expectedId.toString(), toId: null };
      }
    }
    const stream = client.query(
      new QueryStream(`SELECT ${COLUMNS} FROM "audit_event" WHERE "id" >= $1 ${toSql} ORDER BY "id"`, params, { batchSize: 5000 }),
    ) as AsyncIterable<Row> & QueryStream;
    const fromId = expectedId.toString();
    let checked = 0;
    let lastId: string | null = null;
    let broken: string | null = null;
    try {
      for await (const row of stream) {
        const e = toEvent(row);
        const { hash, ...content } = e;
        if (BigInt(e.id) !== expectedId) {
          broken = expectedId.toString(); // a missing event
          break;
        }
        if ((expectedId >= format2From ? eventHash(prev, content) : eventHashFormat1(prev, content)) !== hash) {
          broken = e.id; // an edited event (or one whose predecessor was edited)
          break;
        }
        if (expectedId > format2From && prevAt !== null && e.occurredAt < prevAt) {
          broken = e.id; // an event dated before its predecessor: not written by audit_append
          break;
        }
        prev = hash;
        prevAt = e.occurredAt;
        expectedId += 1n;
        checked += 1;
        lastId = e.id;
        if (onProgress && checked % 100000 === 0) onProgress(checked);
      }
    } finally {
      stream.destroy();
      await close();
    }
    if (broken !== null) return { ok: false, checked, firstBrokenId: broken, fromId, toId: lastId };
    // Without an upper bound the walk must reach the chain head: removed last events are a break too.
    if (!range.to && head) {
      const headId = BigInt(head.last_id);
      if (headId > expectedId - 1n) return { ok: false, checked, firstBrokenId: expectedId.toString(), fromId, toId: lastId };
      if (checked > 0 && headId === expectedId - 1n && head.last_hash !== prev)
        return { ok: false, checked, firstBrokenId: lastId, fromId, toId: lastId };
      // Events appended during the walk may take it past the head read before it, but never past the
      // head as it is now (an append moves the head in the events' own transaction, and the head only
      // moves forward): events beyond it mean a head wound back, or rows written outside the append.
      const [now] = (await this.dataSource.query(`SELECT "last_id", "last_hash" FROM "audit_chain_head" WHERE "id" = 1`)) as {
        last_id: string;
        last_hash: string;
      }[];
      if (now && lastId !== null && BigInt(lastId) > BigInt(now.last_id))
        return { ok: false, checked, firstBrokenId: (BigInt(now.last_id) + 1n).toString(), fromId, toId: lastId };
      if (now && lastId === now.last_id && now.last_hash !== prev) return { ok: false, checked, firstBrokenId: lastId, fromId, toId: lastId };
    }
    onProgress?.(checked);
    return { ok: true, checked, firstBrokenId: null, fromId: checked ? fromId : null, toId: lastId };
  }
}
