import { Injectable } from '@nestjs/common';
import { AuditRollupsRepository } from './audit-rollups.repository.js';
import type { AuditStats, StatsBucket, TokenUsage } from './audit.types.js';

/** How deep the candidate search for the most failing keys reads each day's rollup (see topFailing). */
export const TOP_FAILING_DEPTHS: readonly number[] = [40, 250];

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** How many addresses a token's usage lists. */
export const TOKEN_TOP_ADDRESSES = 10;

/** The audit log's statistics for security teams, read from the rollups. */
@Injectable()
export class AuditStatsService {
  constructor(private readonly rollups: AuditRollupsRepository) {}

  /**
   * Adds the events committed since the rollups were last brought up to date (at most about a
   * second's worth: every instance does it each second) and returns how many it added.
   */
  catchUpRollups(): Promise<number> {
    return this.rollups.catchUp();
  }

  /**
   * A token's use over the `days` UTC days that end with today's: accepted and refused validations
   * and introspections per day (every day of the period, zeros included) and the addresses that used
   * it most, from the per-token daily rollup.
   */
  async tokenUsage(tokenId: string, days: number, now = new Date()): Promise<TokenUsage> {
    await this.catchUpRollups();
    const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
    const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
    const fromDay = dayOf(today - (days - 1) * DAY_MS);
    const toDay = dayOf(today);
    const [rows, top] = await Promise.all([
      this.rollups.tokenDays(tokenId, fromDay, toDay),
      this.rollups.tokenTopAddresses(tokenId, fromDay, toDay, TOKEN_TOP_ADDRESSES),
    ]);
    const byDay = new Map(rows.map((r) => [r.day, r]));
    const out: TokenUsage['days'] = [];
    for (let i = days - 1; i >= 0; i--) {
      const day = dayOf(today - i * DAY_MS);
      const r = byDay.get(day);
      out.push({ day, ok: r ? Number(r.ok) : 0, refused: r ? Number(r.refused) : 0 });
    }
    return {
      days: out,
      topAddresses: top.map((r) => ({ ip: r.ip, ok: Number(r.ok), refused: Number(r.refused), lastAt: new Date(r.last_at).toISOString() })),
    };
  }

  /** Counts per bucket and outcome, and the IPs and tokens with the most failures, from the rollups. */
  async stats(from: Date, to: Date, interval: 'hour' | 'day', type?: string): Promise<AuditStats> {
    // The rollups follow the events by up to a second: bring them up to every committed event first.
    await this.catchUpRollups();
    // The hour that holds `from`, worked out here: in the WHERE clause, date_trunc in a time zone
    // would be evaluated for every row scanned. Buckets are whole UTC hours.
    const fromHour = new Date(Math.floor(from.getTime() / HOUR_MS) * HOUR_MS);
    // Daily failure rollups: the days that the period touches (`to` is exclusive).
    const fromDay = from.toISOString().slice(0, 10);
    const toDay = new Date(to.getTime() - 1).toISOString().slice(0, 10);
    // A period that touches no day (from = to, at midnight) needs no query; on 0001-01-01 the day
    // before would be in year 0, which PostgreSQL refuses.
    const noDay = Promise.resolve({ top: [] as { key: string; n: number }[] });
    const [rows, ips, tokens] = await Promise.all([
      this.rollups.counts(fromHour, to, interval, type),
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
    for (const depth of depths) {
      const rows = await this.rollups.topFailingCandidates(kind, fromDay, toDay, depth, type);
      const bound = Number(rows[0].bound);
      const top = rows.filter((r) => r.key !== null).map((r) => ({ key: r.key as string, n: Number(r.n) }));
      if (top.length === 10 ? top[9].n > bound : bound === 0) return { top, method: 'candidates' };
    }
    const rows = await this.rollups.topFailingAggregate(kind, fromDay, toDay, type);
    return { top: rows.map((r) => ({ key: r.key, n: Number(r.n) })), method: 'aggregate' };
  }
}
