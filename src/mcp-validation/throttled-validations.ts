import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import { AuditWriter } from '../audit/audit.writer.js';

const MINUTE_MS = 60_000;
/** After a minute ends, how long before its counts are written (calls of its last instant still arrive). */
const FLUSH_DELAY_MS = 1_000;
/**
 * How many (address, minute) counts are kept before they are written early: a caller rotating
 * through many addresses cannot make the map grow without bound (an address counted again in the
 * same minute then starts a new count, so it may have two events for that minute).
 */
const MAX_COUNTS = 10_000;

interface Count {
  ip: string | null;
  minute: number;
  count: number;
  outcomes: Record<string, number>;
  first: number;
  last: number;
}

/**
 * Validations refused by the failed-validation limit (`429`), counted per client address and
 * minute and written as one `token.validate` event per address and minute, with outcome
 * `throttled` and the count: an anonymous caller cannot make the audit log grow faster than the
 * limit allows (each validation that was checked still has its own event, written before its
 * answer).
 *
 * Counting is in memory, with no database round trip and no await on the validate path. The counts
 * of a minute are written once it has ended, and every count still held when the service stops
 * (before the audit writer is closed). A crash (`kill -9`, the machine lost) loses the counts not
 * yet written, at most those of the last minute or so; never a checked validation's event.
 */
@Injectable()
export class ThrottledValidations implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(ThrottledValidations.name);
  private counts = new Map<string, Count>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly audit: AuditWriter) {}

  /** Counts a refused validation from `ip` (`n` of them) with the outcome its check gave. */
  count(ip: string | null, outcome: string, now = Date.now(), n = 1): void {
    const minute = Math.floor(now / MINUTE_MS);
    const key = `${minute} ${ip ?? ''}`;
    let c = this.counts.get(key);
    if (!c) {
      if (this.counts.size >= MAX_COUNTS) void this.flush(true);
      c = { ip, minute, count: 0, outcomes: {}, first: now, last: now };
      this.counts.set(key, c);
    }
    c.count += n;
    c.outcomes[outcome] = (c.outcomes[outcome] ?? 0) + n;
    c.last = now;
    this.scheduleFlush(now);
  }

  /** Writes the counts held once the minute of `now` has ended, unless a write is already scheduled. */
  private scheduleFlush(now: number): void {
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined;
        void this.flush(false);
      },
      (Math.floor(now / MINUTE_MS) + 1) * MINUTE_MS - now + FLUSH_DELAY_MS,
    ).unref();
  }

  /**
   * Writes the counts of the minutes that have ended (`all`: every count held) and resolves once
   * they are committed. Counts whose event could not be written are kept for the next flush.
   */
  flush(all = true): Promise<void> {
    const current = Math.floor(Date.now() / MINUTE_MS);
    const due: Count[] = [];
    for (const [key, c] of this.counts) {
      if (all || c.minute < current) {
        due.push(c);
        this.counts.delete(key);
      }
    }
    if (this.counts.size > 0) this.scheduleFlush(Date.now());
    if (due.length === 0) return this.writing;
    const write = Promise.all(due.map((c) => this.write(c))).then(() => undefined);
    this.writing = Promise.all([this.writing, write]).then(() => undefined);
    return this.writing;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flush(true);
  }

  /** Calls answered while the HTTP server closed, after beforeApplicationShutdown. */
  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush(true);
  }

  private async write(c: Count): Promise<void> {
    try {
      await this.audit.record({
        type: 'token.validate',
        outcome: 'throttled',
        ip: c.ip,
        details: {
          count: c.count,
          outcomes: c.outcomes,
          minute: new Date(c.minute * MINUTE_MS).toISOString(),
          firstAt: new Date(c.first).toISOString(),
          lastAt: new Date(c.last).toISOString(),
        },
      });
    } catch (err) {
      // Kept, added to the address's count of the current minute, for the next flush.
      this.logger.warn({ err }, `throttled validations not audited yet (${c.count} from one address): kept for the next write`);
      for (const [outcome, n] of Object.entries(c.outcomes)) this.count(c.ip, outcome, Date.now(), n);
    }
  }
}
