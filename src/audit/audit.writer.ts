import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { isDatabaseUnavailable } from '../database/db-errors.js';
import { contentDigest } from './audit-hash.js';
import { AuditRepository, type BatchEvent, type BatchHook } from './audit.repository.js';
import type { AuditInput } from './audit.types.js';

export type { BatchEvent, BatchHook, BatchStatement, Bind, BindValue } from './audit.repository.js';

interface Pending {
  event: BatchEvent;
  digest: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

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
    details: cleanDetails(detailsOf(input)) as Record<string, unknown>,
  };
}

/** The caller's details, with the client's X-Request-Id when it sent one (details stay as given otherwise). */
function detailsOf(input: AuditInput): Record<string, unknown> {
  const details = input.details ?? {};
  if (input.clientRequestId === undefined || input.clientRequestId === null) return details;
  return { ...details, clientRequestId: input.clientRequestId };
}

const MAX_BATCH = 1000;
/**
 * Batches under way at once, per instance. One: the next batch gathers every event recorded while
 * this one commits. With two, the second waited for the first's chain-head lock, batches were
 * smaller and several instances had more batches contending for the head: two instances answered
 * fewer requests, one about as many (docs/journal/performance-log.md).
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

  constructor(private readonly repository: AuditRepository) {}

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
    await this.repository.appendWithin(manager, event, contentDigest(event));
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

  /** One batch, and the hooks' statements, in one statement and its own transaction. */
  private write(batch: Pending[]): Promise<void> {
    return this.repository.appendBatch(
      batch.map((p) => p.event),
      batch.map((p) => p.digest),
      this.hooks,
    );
  }
}
