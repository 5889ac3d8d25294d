import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import type { AppConfig, AuditSyslogConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { checkpointLine, type AuditCheckpoint } from './audit-checkpoint.js';
import { fhirSourceOf, toFhirAuditEvent, type FhirSource } from './audit-fhir.js';
import { AuditForwardRepository, type AuditForwardSession, type ForwardPosition } from './audit-forward.repository.js';
import type { AuditEvent } from './audit.types.js';
import { FACILITY_LOG_AUDIT, formatSyslog, frameOctetCounted, SD_ENTERPRISE, SEVERITY } from './syslog-format.js';
import { SyslogConnection, SyslogTransportError } from './syslog-transport.js';

/** The stream's name in audit_forward_cursor. */
export const SYSLOG_STREAM = 'syslog';
const APP_NAME = 'hospiai';
const BATCH = 500;
const CHECKPOINT_BATCH = 50;
/** Between two reads when the stream has caught up with the chain head. */
const IDLE_POLL_MS = 200;
/** A standby instance tries for the forwarding lock this often. */
const LOCK_RETRY_MS = 2000;
/**
 * Syslog has no acknowledgement: bytes a receiver had not read when it stopped are lost with its
 * connection. So the cursor moves only to what was sent at least this long before, on a connection
 * still up; after a broken connection the stream resends from the cursor (at-least-once).
 */
const SETTLE_MS = 2000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const LAG_REFRESH_MS = 5000;
/** How long the shutdown waits for a round under way. */
const SHUTDOWN_MS = 3000;

/** The syslog severity of an event: failures and refusals are notices, the service's own errors errors. */
function severityOf(outcome: string): number {
  if (outcome === 'valid' || outcome === 'success' || outcome === 'already_revoked') return SEVERITY.informational;
  if (outcome === 'error') return SEVERITY.error;
  return SEVERITY.notice;
}

/** The wait before the next attempt after `failures` failures in a row: exponential, capped, with jitter (half to all of it). */
export function backoffMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures, 16));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** The lag as /metrics and readiness show it. */
export interface StreamLag {
  configured: true;
  forwarding: boolean;
  lagEvents: number;
  lagSeconds: number;
  cursorId: string;
}

/**
 * Streams the audit log to the SIEM (AUDIT_SYSLOG_URL; docs/siem.md): committed events in chain
 * order, read from the database after a cursor kept there, and the signed checkpoints after the
 * event each one covers. Never on the request path: validations commit their events as before, and
 * this reads them afterwards, so the receiver's speed or absence never slows an answer.
 *
 * One instance forwards at a time (a session-level advisory lock on a connection of its own; a
 * standby tries again every few seconds and takes over when the holder's connection ends).
 * Delivery is at-least-once: a receiver outage, a restart or a kill -9 resumes from the cursor,
 * which may resend the last seconds; each message carries its event id (MSGID and structured data).
 */
@Injectable()
export class AuditForwarderService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuditForwarderService.name);
  private readonly syslog: AuditSyslogConfig | null;
  private readonly source: FhirSource;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private session: AuditForwardSession | undefined;
  private connection: SyslogConnection | undefined;
  private locked = false;
  /** Saved in the database: settled on the receiver's side. */
  private confirmed: ForwardPosition | undefined;
  /** Written to the current connection. */
  private sent: ForwardPosition | undefined;
  private pending: { position: ForwardPosition; at: number }[] = [];
  private failures = 0;
  private failing = false;
  private lastLag: StreamLag | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private readonly messages: Counter<'kind'> | undefined;
  private readonly errors: Counter<'stage'> | undefined;

  constructor(
    private readonly repository: AuditForwardRepository,
    @InjectConfig() config: AppConfig,
    metrics: MetricsService,
  ) {
    this.syslog = config.auditSyslog;
    this.source = fhirSourceOf(config.auditHostname);
    if (this.syslog) {
      const registers = [metrics.registry];
      this.messages = new Counter({ name: 'hospiai_audit_stream_messages_total', help: 'Messages written to the syslog receiver, by kind (event, checkpoint); resends included', labelNames: ['kind'], registers });
      this.errors = new Counter({ name: 'hospiai_audit_stream_failures_total', help: 'Failures of the audit stream, by stage (connect, send, database)', labelNames: ['stage'], registers });
      const lagEvents = (): number => this.lastLag?.lagEvents ?? 0;
      new Gauge({ name: 'hospiai_audit_stream_lag_events', help: 'Audit events committed but not yet delivered to the syslog receiver', registers, collect() { this.set(lagEvents()); } });
      const lagSeconds = (): number => this.lastLag?.lagSeconds ?? 0;
      new Gauge({ name: 'hospiai_audit_stream_lag_seconds', help: 'Age of the oldest audit event not yet delivered to the syslog receiver (0 when none waits)', registers, collect() { this.set(lagSeconds()); } });
      const forwarding = (): number => (this.locked ? 1 : 0);
      new Gauge({ name: 'hospiai_audit_stream_forwarding', help: '1 when this instance holds the forwarding lock and streams the audit log', registers, collect() { this.set(forwarding()); } });
    }
  }

  get configured(): boolean {
    return this.syslog !== null;
  }

  onApplicationBootstrap(): void {
    if (!this.syslog) return;
    this.logger.log(`audit stream: ${this.syslog.transport}://${this.syslog.host}:${this.syslog.port}, format ${this.syslog.format}`);
    this.loop = this.run();
    this.lagTimer = setInterval(() => void this.lag().catch(() => undefined), LAG_REFRESH_MS);
    this.lagTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.lagTimer) clearInterval(this.lagTimer);
    this.wake?.();
    // A round under way ends on its own, unless the receiver or the database does not answer:
    // then its connections are dropped (what was sent and not saved goes again after the restart).
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), SHUTDOWN_MS);
      timer.unref();
    });
    const ended = await Promise.race([this.loop?.then(() => true), late]);
    clearTimeout(timer);
    if (ended) await this.connection?.close();
    else this.connection?.destroy();
    await this.session?.close();
  }

  /** The stream's lag, read from the database (the cursor every instance shares); undefined without a stream. */
  async lag(): Promise<StreamLag | undefined> {
    if (!this.syslog) return undefined;
    const lag = await this.repository.lag(SYSLOG_STREAM);
    const seconds = lag.oldestWaiting ? Math.max(0, (Date.now() - lag.oldestWaiting.getTime()) / 1000) : 0;
    this.lastLag = { configured: true, forwarding: this.locked, lagEvents: lag.events, lagSeconds: Math.round(seconds * 1000) / 1000, cursorId: lag.cursorId };
    return this.lastLag;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const waitMs = await this.round();
        if (this.failing) this.logger.log('audit stream: delivering again');
        this.failing = false;
        this.failures = 0;
        if (waitMs > 0) await this.sleep(waitMs);
      } catch (err) {
        this.failures += 1;
        const stage = err instanceof SyslogTransportError ? (this.connection ? 'send' : 'connect') : 'database';
        this.errors?.inc({ stage });
        if (!this.failing) this.logger.error({ err }, `audit stream: ${stage} failed (retried with backoff)`);
        this.failing = true;
        this.reset(stage === 'database');
        await this.sleep(backoffMs(this.failures));
      }
    }
  }

  /** Drops the receiver's connection (rewinding to the saved cursor) and, after a database failure, the session and its lock. */
  private reset(database: boolean): void {
    this.connection?.destroy();
    this.connection = undefined;
    this.sent = this.confirmed;
    this.pending = [];
    if (database) {
      void this.session?.close();
      this.session = undefined;
      this.locked = false;
      this.confirmed = undefined;
      this.sent = undefined;
    }
  }

  /** One step of the stream; resolves how long to wait before the next. */
  private async round(): Promise<number> {
    const syslog = this.syslog as AuditSyslogConfig;
    this.session ??= await this.repository.openSession();
    if (!this.locked) {
      this.locked = await this.session.tryLock();
      if (!this.locked) return LOCK_RETRY_MS;
      this.confirmed = await this.session.position(SYSLOG_STREAM);
      this.sent = this.confirmed;
      this.logger.log(`audit stream: forwarding from event ${this.confirmed.lastId}, checkpoint ${this.confirmed.checkpointSeq}`);
    }
    if (this.connection?.broken) throw this.connection.broken;
    if (!this.connection) {
      this.connection = await SyslogConnection.open(syslog);
      this.sent = this.confirmed;
      this.pending = [];
    }
    const from = this.sent as ForwardPosition;
    const events = await this.session.eventsAfter(from.lastId, BATCH);
    const checkpoints = await this.session.checkpointsAfter(from.checkpointSeq, CHECKPOINT_BATCH);
    const { frames, position, counts } = this.messagesOf(events, checkpoints, from);
    if (frames.length > 0) {
      await this.connection.send(frames);
      this.messages?.inc({ kind: 'event' }, counts.events);
      if (counts.checkpoints > 0) this.messages?.inc({ kind: 'checkpoint' }, counts.checkpoints);
      this.sent = position;
      this.pending.push({ position, at: Date.now() });
    }
    await this.settle();
    return events.length === BATCH ? 0 : IDLE_POLL_MS;
  }

  /** Saves, as the cursor, the last position sent at least SETTLE_MS ago on a connection still up. */
  private async settle(): Promise<void> {
    const before = Date.now() - SETTLE_MS;
    let settled: ForwardPosition | undefined;
    while (this.pending.length > 0 && this.pending[0].at <= before) settled = this.pending.shift()?.position;
    if (!settled || this.connection?.broken) return;
    await this.session?.save(SYSLOG_STREAM, settled);
    this.confirmed = settled;
  }

  /**
   * The frames for these events and checkpoints, in chain order: a checkpoint goes right after the
   * event it covers (its lastId), or at once when that event was sent already.
   */
  private messagesOf(
    events: readonly AuditEvent[],
    checkpoints: readonly AuditCheckpoint[],
    from: ForwardPosition,
  ): { frames: Buffer[]; position: ForwardPosition; counts: { events: number; checkpoints: number } } {
    const frames: Buffer[] = [];
    let lastId = BigInt(from.lastId);
    let seq = from.checkpointSeq;
    let c = 0;
    let nCheckpoints = 0;
    const flushCheckpoints = (): void => {
      while (c < checkpoints.length && BigInt(checkpoints[c].lastId) <= lastId) {
        frames.push(frameOctetCounted(this.checkpointMessage(checkpoints[c])));
        seq = checkpoints[c].sequence;
        c += 1;
        nCheckpoints += 1;
      }
    };
    flushCheckpoints();
    for (const e of events) {
      frames.push(frameOctetCounted(this.eventMessage(e)));
      lastId = BigInt(e.id);
      flushCheckpoints();
    }
    return { frames, position: { lastId: lastId.toString(), checkpointSeq: seq }, counts: { events: events.length, checkpoints: nCheckpoints } };
  }

  private eventMessage(e: AuditEvent): string {
    const syslog = this.syslog as AuditSyslogConfig;
    return formatSyslog({
      facility: FACILITY_LOG_AUDIT,
      severity: severityOf(e.outcome),
      timestamp: e.occurredAt,
      hostname: syslog.hostname,
      appName: APP_NAME,
      procId: String(process.pid),
      msgId: e.id,
      structuredData: [{ id: `hospiai@${SD_ENTERPRISE}`, params: [['id', e.id], ['type', e.type], ['outcome', e.outcome], ['hash', e.hash]] }],
      msg: JSON.stringify(syslog.format === 'fhir' ? toFhirAuditEvent(e, this.source) : e),
    });
  }

  private checkpointMessage(c: AuditCheckpoint): string {
    const syslog = this.syslog as AuditSyslogConfig;
    return formatSyslog({
      facility: FACILITY_LOG_AUDIT,
      severity: SEVERITY.informational,
      timestamp: c.signedAt,
      hostname: syslog.hostname,
      appName: APP_NAME,
      procId: String(process.pid),
      msgId: 'checkpoint',
      structuredData: [{ id: `checkpoint@${SD_ENTERPRISE}`, params: [['sequence', String(c.sequence)], ['lastId', c.lastId], ['hash', c.hash]] }],
      msg: checkpointLine(c).trimEnd(),
    });
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
