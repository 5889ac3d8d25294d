import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { Gauge } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service.js';
import { AuditForwardRepository } from './audit-forward.repository.js';
import { SYSLOG_STREAM } from './audit-forwarder.service.js';
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
  /** Partitions past retention kept because the audit stream has not delivered all their events yet. */
  waitingForStream?: string[];
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
  private readonly waiting: Gauge;

  constructor(
    private readonly retention: AuditRetentionRepository,
    private readonly rollups: AuditRollupsRepository,
    @InjectConfig() private readonly config: AppConfig,
    private readonly writer: AuditWriter,
    private readonly forwarded: AuditForwardRepository,
    metrics: MetricsService,
  ) {
    this.waiting = new Gauge({
      name: 'hospiai_audit_retention_waiting_partitions',
      help: 'Monthly audit partitions past AUDIT_RETENTION_DAYS that retention keeps because the audit stream has not delivered them yet',
      registers: [metrics.registry],
    });
  }

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
    if (parts.length === 0) {
      this.waiting.set(0);
      return nothing;
    }
    // With a stream to a SIEM, a partition goes only once every event in it has been delivered
    // (the stream's cursor is past its last event): the oldest first, stopping at the first that waits.
    const forwardedTo = this.config.auditSyslog ? BigInt(await this.forwarded.cursorId(SYSLOG_STREAM)) : undefined;
    let events = 0;
    let lastDropped: { id: string; hash: string } | undefined;
    const waiting: string[] = [];
    for (const p of parts) {
      const content = await this.retention.partitionContent(p.name);
      const last = content.last;
      if (waiting.length > 0 || (forwardedTo !== undefined && last && BigInt(last.id) > forwardedTo)) {
        waiting.push(p.name);
        continue;
      }
      events += content.events;
      if (last && (!lastDropped || BigInt(last.id) > BigInt(lastDropped.id))) lastDropped = last;
    }
    this.waiting.set(waiting.length);
    if (waiting.length > 0) {
      this.logger.warn(
        `audit retention: keeping ${waiting.join(', ')} past ${this.config.auditRetentionDays} days: the audit stream has not delivered their events yet (delivered up to event ${String(forwardedTo)})`,
      );
      parts.splice(parts.length - waiting.length, waiting.length);
      if (parts.length === 0) return { ...nothing, waitingForStream: waiting };
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
    if (waiting.length > 0) result.waitingForStream = waiting;
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
