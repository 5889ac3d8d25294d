import { Injectable } from '@nestjs/common';
import { eventHash, eventHashFormat1, GENESIS_HASH } from './audit-hash.js';
import { AuditRepository, toEvent } from './audit.repository.js';
import type { AuditCheckpoint, BrokenCheckpoint, CheckpointSet } from './audit-checkpoint.js';
import type { VerifyResult } from './audit.types.js';
import { LongReadLimiter } from './long-read-limiter.js';

/** Checks the audit log's hash chain for security teams (the API and the audit CLI). */
@Injectable()
export class AuditVerifyService {
  constructor(
    private readonly repository: AuditRepository,
    private readonly limiter: LongReadLimiter,
  ) {}

  /**
   * Walks the hash chain in id order, recomputing every hash: an edited,
   * removed or inserted row breaks it at that row. Without a range, it starts
   * where retention left the chain (the anchor) and ends at the chain head,
   * so that a removed last event is found too.
   *
   * With `signal`, an abort (the HTTP client gone) ends the walk at once: its connection is
   * dropped, even while a query is under way, and the long read's place is free again; the walk
   * then rejects. Throws the 429 answer when too many long reads are under way.
   *
   * With `checkpoints` (a checkpoint file, every signature already checked, read before the walk
   * so that each names a head the walk can see), the chain must also pass through every signed
   * head within the walk: the event at its lastId exists, has its hash and, from the anchor, its
   * count. That finds what the chain alone cannot: events removed from the end with the head wound
   * back, and an edit with every later hash recomputed, up to the last checkpoint.
   */
  async verify(
    range: { from?: Date; to?: Date } = {},
    onProgress?: (checked: number) => void,
    signal?: AbortSignal,
    checkpoints?: CheckpointSet,
  ): Promise<VerifyResult> {
    let vouched = 0;
    let checkpointedToId: string | null = null;
    const answer = (r: Pick<VerifyResult, 'ok' | 'checked' | 'firstBrokenId' | 'fromId' | 'toId'>, brokenCheckpoint: BrokenCheckpoint | null = null): VerifyResult => ({
      ...r,
      checkpoints: vouched,
      checkpointedToId,
      brokenCheckpoint,
    });
    if (checkpoints?.broken) {
      return answer({ ok: false, checked: 0, firstBrokenId: null, fromId: null, toId: null }, checkpoints.broken);
    }
    const anchor = await this.repository.chainAnchor();
    // Events before format2_from_id were chained with the format-1 hash.
    const format2From = BigInt(anchor?.format2_from_id ?? '1');
    const head = await this.repository.chainHead();
    let expectedId = BigInt(anchor?.first_id ?? '1');
    let prev = anchor?.prev_hash ?? GENESIS_HASH;
    /** The previous event's time, once known: along the format-2 chain, time never goes backwards. */
    let prevAt: string | null = null;

    if (range.from) {
      const firstId = await this.repository.firstIdFrom(range.from);
      if (firstId === undefined) return answer({ ok: true, checked: 0, firstBrokenId: null, fromId: null, toId: null });
      const startId = BigInt(firstId);
      if (startId > expectedId) {
        // The chain before the range is taken as it is stored: start from the previous event's hash.
        const before = await this.repository.hashAndTime((startId - 1n).toString());
        if (!before) return answer({ ok: false, checked: 0, firstBrokenId: (startId - 1n).toString(), fromId: firstId, toId: null });
        prev = before.hash;
        prevAt = before.occurred_at.toISOString();
        expectedId = startId;
      }
    }

    const read = await this.repository.openLongRead('verify', this.limiter.acquire());
    /** Ends the walk's connection (at once, if a query is under way), which frees its place. */
    const close = (): Promise<void> => read.close();
    const abandon = (): void => void close();
    if (signal?.aborted) abandon();
    else signal?.addEventListener('abort', abandon, { once: true });
    if (expectedId === BigInt(anchor?.first_id ?? '1')) {
      // Only audit_append writes events, each after the chain head: a row below where the retained
      // chain starts was written some other way (or survived retention), and the walk would not see it.
      const stray = await read.firstIdBelow(expectedId.toString(), range).catch(async (err: unknown) => {
        await close();
        throw err;
      });
      if (stray !== undefined) {
        await close();
        return answer({ ok: false, checked: 0, firstBrokenId: stray, fromId: expectedId.toString(), toId: null });
      }
    }
    const stream = read.eventsFrom(expectedId.toString(), range.to);
    const fromId = expectedId.toString();
    // From the anchor, the count of a checkpoint can be checked: events pruned, then those walked.
    const fromAnchor = expectedId === BigInt(anchor?.first_id ?? '1');
    const pruned = BigInt(anchor?.pruned_events ?? '0');
    // The signed heads the walk will meet, in id order (the file's order, checked).
    const ahead: { line: number; checkpoint: AuditCheckpoint }[] = (checkpoints?.lines ?? []).filter((l) => BigInt(l.checkpoint.lastId) >= expectedId);
    let next = 0;
    let nextId = ahead.length > 0 ? BigInt(ahead[0].checkpoint.lastId) : -1n;
    let checked = 0;
    let lastId: string | null = null;
    let broken: string | null = null;
    let brokenCheckpoint: BrokenCheckpoint | null = null;
    /** A checkpoint that no longer matches: the change lies after the last one that did. */
    const mismatch = (problem: 'hash_mismatch' | 'count_mismatch'): void => {
      const { line, checkpoint } = ahead[next];
      brokenCheckpoint = { line, sequence: checkpoint.sequence, lastId: checkpoint.lastId, problem };
      broken = next > 0 ? (BigInt(ahead[next - 1].checkpoint.lastId) + 1n).toString() : fromId;
    };
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
        checked += 1;
        if (expectedId === nextId) {
          const cp = ahead[next].checkpoint;
          if (cp.lastHash !== hash) {
            mismatch('hash_mismatch');
            break;
          }
          if (fromAnchor && BigInt(cp.count) !== pruned + BigInt(checked)) {
            mismatch('count_mismatch');
            break;
          }
          vouched += 1;
          checkpointedToId = cp.lastId;
          next += 1;
          nextId = next < ahead.length ? BigInt(ahead[next].checkpoint.lastId) : -1n;
        }
        expectedId += 1n;
        lastId = e.id;
        if (onProgress && checked % 100000 === 0) onProgress(checked);
      }
    } finally {
      stream.destroy();
      await close();
    }
    if (broken !== null) return answer({ ok: false, checked: brokenCheckpoint ? checked - 1 : checked, firstBrokenId: broken, fromId, toId: lastId }, brokenCheckpoint);
    // A signed head the walk never reached: its events were removed (the head wound back with them).
    if (!range.to && next < ahead.length) {
      const { line, checkpoint } = ahead[next];
      return answer(
        { ok: false, checked, firstBrokenId: expectedId.toString(), fromId, toId: lastId },
        { line, sequence: checkpoint.sequence, lastId: checkpoint.lastId, problem: 'missing_event' },
      );
    }
    // Without an upper bound the walk must reach the chain head: removed last events are a break too.
    if (!range.to && head) {
      const headId = BigInt(head.last_id);
      if (headId > expectedId - 1n) return answer({ ok: false, checked, firstBrokenId: expectedId.toString(), fromId, toId: lastId });
      if (checked > 0 && headId === expectedId - 1n && head.last_hash !== prev)
        return answer({ ok: false, checked, firstBrokenId: lastId, fromId, toId: lastId });
      // Events appended during the walk may take it past the head read before it, but never past the
      // head as it is now (an append moves the head in the events' own transaction, and the head only
      // moves forward): events beyond it mean a head wound back, or rows written outside the append.
      const now = await this.repository.chainHead();
      if (now && lastId !== null && BigInt(lastId) > BigInt(now.last_id))
        return answer({ ok: false, checked, firstBrokenId: (BigInt(now.last_id) + 1n).toString(), fromId, toId: lastId });
      if (now && lastId === now.last_id && now.last_hash !== prev)
        return answer({ ok: false, checked, firstBrokenId: lastId, fromId, toId: lastId });
    }
    onProgress?.(checked);
    return answer({ ok: true, checked, firstBrokenId: null, fromId: checked ? fromId : null, toId: lastId });
  }
}
