import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { AuditWriter } from './audit.writer.js';

const HOUR_MS = 3_600_000;
const MONTHS_AHEAD = 2;
/** How often each instance brings the audit rollups up to the chain head. */
const ROLLUP_INTERVAL_MS = 1000;

export interface PruneResult {
  cutoff: string;
  partitions: string[];
  events: number;
  firstRetainedId: string | null;
}

function monthStart(name: string): Date | undefined {
  const m = /^audit_event_p(\d{4})_(\d{2})$/.exec(name);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)) : undefined;
}

/**
 * Keeps the audit table ready and bounded: monthly partitions are created
 * ahead of time, and partitions entirely older than AUDIT_RETENTION_DAYS are
 * dropped whole: the only way events ever leave, itself recorded as an event.
 * Every second, it also adds the newly committed events to the rollups.
 */
@Injectable()
export class AuditMaintenanceService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuditMaintenanceService.name);
  private timer: NodeJS.Timeout | undefined;
  private rollupTimer: NodeJS.Timeout | undefined;
  private rollingUp: Promise<void> | undefined;
  private rollupFailing = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: AppConfig,
    private readonly writer: AuditWriter,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.ensurePartitionsAhead();
    this.timer = setInterval(() => void this.runPeriodic(), HOUR_MS);
    this.timer.unref();
    this.rollupTimer = setInterval(() => this.rollUp(), ROLLUP_INTERVAL_MS);
    this.rollupTimer.unref();
    void this.prune().catch((err: unknown) => this.logger.error({ err }, 'audit retention failed'));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.rollupTimer) clearInterval(this.rollupTimer);
    await this.rollingUp;
  }

  /**
   * Adds the events committed since the last pass to the rollups. When another instance is at it,
   * this one leaves it to finish. Failures are logged once, and again once it works again.
   */
  private rollUp(): void {
    this.rollingUp ??= this.catchUp().finally(() => (this.rollingUp = undefined));
  }

  private async catchUp(): Promise<void> {
    try {
      await this.dataSource.query(`SELECT "audit_rollup_catch_up"(false)`);
      if (this.rollupFailing) this.logger.log('audit rollups: up to date again');
      this.rollupFailing = false;
    } catch (err) {
      if (!this.rollupFailing) this.logger.error({ err }, 'audit rollups: catching up failed (retried every second)');
      this.rollupFailing = true;
    }
  }

  private async runPeriodic(): Promise<void> {
    try {
      await this.ensurePartitionsAhead();
      await this.prune();
    } catch (err) {
      this.logger.error({ err }, 'audit maintenance failed');
    }
  }

  /** Partitions for this month and the next ones. */
  async ensurePartitionsAhead(now = new Date()): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      // The chain head lock serialises this DDL with the writers of every instance.
      await m.query(`SELECT 1 FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE`);
      for (let i = 0; i <= MONTHS_AHEAD; i++) {
        const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
        await m.query(`SELECT "audit_ensure_partition"($1)`, [month.toISOString()]);
      }
    });
  }

  /** Drops the partitions that end before now − AUDIT_RETENTION_DAYS and moves the chain's anchor past them. */
  async prune(now = new Date()): Promise<PruneResult> {
    const cutoff = new Date(now.getTime() - this.config.auditRetentionDays * 24 * HOUR_MS);
    // Partitions wholly before the cutoff receive no more events (time only moves forward along the
    // chain): count them before taking the lock that briefly holds the writers back.
    const parts = ((await this.dataSource.query(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '"audit_event"'::regclass`,
    )) as { name: string }[])
      .map((p) => ({ name: p.name, start: monthStart(p.name) }))
      .filter((p): p is { name: string; start: Date } => p.start !== undefined)
      .filter((p) => new Date(Date.UTC(p.start.getUTCFullYear(), p.start.getUTCMonth() + 1, 1)) <= cutoff)
      .sort((a, b) => a.start.getTime() - b.start.getTime());
    if (parts.length === 0) return { cutoff: cutoff.toISOString(), partitions: [], events: 0, firstRetainedId: null };
    let events = 0;
    let lastDropped: { id: string; hash: string } | undefined;
    for (const p of parts) {
      const [stat] = (await this.dataSource.query(`SELECT count(*)::bigint AS n FROM "${p.name}"`)) as { n: string }[];
      events += Number(stat.n);
      const [last] = (await this.dataSource.query(`SELECT "id", "hash" FROM "${p.name}" ORDER BY "id" DESC LIMIT 1`)) as { id: string; hash: string }[];
      if (last && (!lastDropped || BigInt(last.id) > BigInt(lastDropped.id))) lastDropped = last;
    }
    const result = await this.dataSource.transaction(async (m) => {
      await m.query(`SELECT 1 FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE`);
      // The rollups count the dropped events before they, and their rollups, go.
      await m.query(`SELECT "audit_rollup_catch_up"(true)`);
      for (const p of parts) {
        const [exists] = (await m.query(`SELECT to_regclass($1) AS r`, [`"${p.name}"`])) as { r: string | null }[];
        // Another instance pruned first.
        if (!exists?.r) return { cutoff: cutoff.toISOString(), partitions: [], events: 0, firstRetainedId: null };
      }
      for (const p of parts) {
        await m.query(`ALTER TABLE "audit_event" DETACH PARTITION "${p.name}"`);
        await m.query(`DROP TABLE "${p.name}"`);
      }
      let firstRetainedId: string | null = null;
      if (lastDropped) {
        firstRetainedId = (BigInt(lastDropped.id) + 1n).toString();
        await m.query(
          `UPDATE "audit_chain_anchor" SET "first_id" = $1, "prev_hash" = $2, "pruned_events" = "pruned_events" + $3, "updated_at" = now() WHERE "id" = 1`,
          [firstRetainedId, lastDropped.hash, events],
        );
      }
      // Rollups go with their events: up to the end of the last dropped month.
      const last = parts[parts.length - 1].start;
      const droppedUntil = new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth() + 1, 1)).toISOString();
      await m.query(`DELETE FROM "audit_rollup_hourly" WHERE "bucket" < $1`, [droppedUntil]);
      await m.query(`DELETE FROM "audit_failure_rollup_daily" WHERE "day" < ($1::timestamptz AT TIME ZONE 'UTC')::date`, [droppedUntil]);
      return { cutoff: cutoff.toISOString(), partitions: parts.map((p) => p.name), events, firstRetainedId };
    });
    if (result.partitions.length > 0) {
      this.logger.log(`audit retention: dropped ${result.partitions.join(', ')} (${result.events} events older than ${result.cutoff})`);
      await this.writer.record({
        type: 'audit.prune',
        outcome: 'success',
        details: { ...result, retentionDays: this.config.auditRetentionDays },
      });
    }
    return result;
  }
}
