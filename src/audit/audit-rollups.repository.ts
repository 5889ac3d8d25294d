import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** One row of a top-failing read: a key and its failures (null key: no candidate, only the bound). */
export interface CandidateRow {
  key: string | null;
  n: string | null;
  bound: string;
}

/**
 * Every query of the audit rollups (`audit_rollup_hourly`, `audit_failure_rollup_daily`, kept by
 * the database functions audit_rollup_catch_up and audit_rollup_add: see src/database/sql/).
 */
@Injectable()
export class AuditRollupsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Adds the events committed since the last catch-up, waiting for another session at it; returns how many. */
  async catchUp(): Promise<number> {
    const [row] = (await this.dataSource.query(`SELECT "audit_rollup_catch_up"(true) AS n`)) as { n: string }[];
    return Number(row.n);
  }

  /** The same, but leaves it to another session already at it. */
  async catchUpUnlessBusy(): Promise<void> {
    await this.dataSource.query(`SELECT "audit_rollup_catch_up"(false)`);
  }

  /**
   * Counts per bucket (`hour`: the hourly rollup's own buckets; `day`: 24-hour bins from UTC
   * midnights) and outcome, from `fromHour` (a whole hour) to `to` (exclusive), of one type or all.
   */
  async counts(fromHour: Date, to: Date, interval: 'hour' | 'day', type?: string): Promise<{ start: Date; outcome: string; n: string }[]> {
    const params: unknown[] = [fromHour.toISOString(), to.toISOString()];
    let typeSql = '';
    if (type) {
      params.push(type);
      typeSql = `AND "type" = $3`;
    }
    // date_bin is arithmetic, where date_trunc in a time zone costs a conversion per row.
    const start = interval === 'hour' ? `"bucket"` : `date_bin('1 day', "bucket", '2000-01-01T00:00:00Z')`;
    return (await this.dataSource.query(
      `SELECT ${start} AS start, "outcome", sum("count")::bigint AS n
           FROM "audit_rollup_hourly"
          WHERE "bucket" >= $1::timestamptz AND "bucket" < $2::timestamptz ${typeSql}
          GROUP BY 1, 2 ORDER BY 1`,
      params,
    )) as { start: Date; outcome: string; n: string }[];
  }

  /**
   * One pass of the candidate search for the keys with the most failures from `fromDay` to `toDay`
   * (inclusive): each (day, type) group of the daily failure rollup read `depth` keys deep from its
   * busiest, the candidates' exact totals where they may reach the 10th best, and `bound`, the most
   * a key missing from every group's top can have (see AuditStatsService.topFailing). At most 10
   * rows, most failures first, ties by key; one row with a null key when there is no candidate.
   */
  async topFailingCandidates(kind: 'ip' | 'token', fromDay: string, toDay: string, depth: number, type?: string): Promise<CandidateRow[]> {
    const typed = type ? `AND "type" = $5` : '';
    // The groups: every day of the period for one type, or the (day, type) pairs present (a skip scan).
    const groups = type
      ? `g AS (SELECT d::date AS "day", $5::varchar AS "type" FROM generate_series($2::date, $3::date, interval '1 day') d)`
      : `g AS (
             (SELECT "day", "type" FROM "audit_failure_rollup_daily" WHERE "kind" = $1 AND "day" >= $2 AND "day" <= $3 ORDER BY "day", "type" LIMIT 1)
             UNION ALL
             SELECT n."day", n."type" FROM g CROSS JOIN LATERAL (
               SELECT "day", "type" FROM "audit_failure_rollup_daily"
                WHERE "kind" = $1 AND ("day", "type") > (g."day", g."type") AND "day" <= $3 ORDER BY "day", "type" LIMIT 1) n)`;
    return (await this.dataSource.query(
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
    )) as CandidateRow[];
  }

  /** The 10 keys with the most failures from `fromDay` to `toDay` (inclusive), by summing every rollup row of the period. */
  async topFailingAggregate(kind: 'ip' | 'token', fromDay: string, toDay: string, type?: string): Promise<{ key: string; n: string }[]> {
    return (await this.dataSource.query(
      `SELECT "key", sum("count")::bigint AS n FROM "audit_failure_rollup_daily"
        WHERE "kind" = $1 AND "day" >= $2 AND "day" <= $3 ${type ? `AND "type" = $4` : ''}
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`,
      type ? [kind, fromDay, toDay, type] : [kind, fromDay, toDay],
    )) as { key: string; n: string }[];
  }

  /** A token's accepted and refused validations per UTC day, from `fromDay` to `toDay` (inclusive). */
  async tokenDays(tokenId: string, fromDay: string, toDay: string): Promise<{ day: string; ok: string; refused: string }[]> {
    return (await this.dataSource.query(
      `SELECT to_char("day", 'YYYY-MM-DD') AS "day", sum("ok")::bigint AS ok, sum("refused")::bigint AS refused
         FROM "audit_token_rollup_daily"
        WHERE "token_id" = $1 AND "day" >= $2::date AND "day" <= $3::date
        GROUP BY "day" ORDER BY "day"`,
      [tokenId, fromDay, toDay],
    )) as { day: string; ok: string; refused: string }[];
  }

  /** The addresses that used a token most from `fromDay` to `toDay` (inclusive), most uses first ('' : no address). */
  async tokenTopAddresses(
    tokenId: string,
    fromDay: string,
    toDay: string,
    limit: number,
  ): Promise<{ ip: string; ok: string; refused: string; last_at: Date }[]> {
    return (await this.dataSource.query(
      `SELECT "ip", sum("ok")::bigint AS ok, sum("refused")::bigint AS refused, max("last_at") AS last_at
         FROM "audit_token_rollup_daily"
        WHERE "token_id" = $1 AND "day" >= $2::date AND "day" <= $3::date
        GROUP BY "ip" ORDER BY sum("ok") + sum("refused") DESC, "ip" LIMIT $4`,
      [tokenId, fromDay, toDay, limit],
    )) as { ip: string; ok: string; refused: string; last_at: Date }[];
  }
}
