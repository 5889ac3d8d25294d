import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { AuditRetentionRepository } from './audit-retention.repository.js';
import { AuditRollupsRepository } from './audit-rollups.repository.js';
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
    private readonly retention: AuditRetentionRepository,
    private readonly rollups: AuditRollupsRepository,
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
      await this.rollups.catchUpUnlessBusy();
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
    const months: Date[] = [];
    for (let i = 0; i <= MONTHS_AHEAD; i++) months.push(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1)));
    await this.retention.ensurePartitions(months);
  }

  /** Drops the partitions that end before now − AUDIT_RETENTION_DAYS and moves the chain's anchor past them. */
  async prune(now = new Date()): Promise<PruneResult> {
    const cutoff = new Date(now.getTime() - this.config.auditRetentionDays * 24 * HOUR_MS);
    // Partitions wholly before the cutoff receive no more events (time only moves forward along the
    // chain): count them before taking the lock that briefly holds the writers back.
    const parts = (await this.retention.partitions())
      .map((name) => ({ name, start: monthStart(name) }))
      .filter((p): p is { name: string; start: Date } => p.start !== undefined)
      .filter((p) => new Date(Date.UTC(p.start.getUTCFullYear(), p.start.getUTCMonth() + 1, 1)) <= cutoff)
      .sort((a, b) => a.start.getTime() - b.start.getTime());
    const nothing: PruneResult = { cutoff: cutoff.toISOString(), partitions: [], events: 0, firstRetainedId: null };
    if (parts.length === 0) return nothing;
    let events = 0;
    let lastDropped: { id: string; hash: string } | undefined;
    for (const p of parts) {
      const content = await this.retention.partitionContent(p.name);
      events += content.events;
      const last = content.last;
      if (last && (!lastDropped || BigInt(last.id) > BigInt(lastDropped.id))) lastDropped = last;
    }
    const firstRetainedId = lastDropped ? (BigInt(lastDropped.id) + 1n).toString() : null;
    // Rollups go with their events: up to the end of the last dropped month.
    const last = parts[parts.length - 1].start;
    const droppedUntil = new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth() + 1, 1));
    const dropped = await this.retention.dropPartitions(
      parts.map((p) => p.name),
      lastDropped && firstRetainedId ? { firstId: firstRetainedId, prevHash: lastDropped.hash, events } : undefined,
      droppedUntil,
    );
    // Not dropped: another instance pruned first.
    const result: PruneResult = dropped ? { cutoff: cutoff.toISOString(), partitions: parts.map((p) => p.name), events, firstRetainedId } : nothing;
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
