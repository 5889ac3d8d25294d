import { Injectable } from '@nestjs/common';
import { decodeCursor, encodeCursor } from '../common/keyset-cursor.js';
import { storableTime } from '../common/timestamps.js';
import { AuditRepository } from './audit.repository.js';
import type { AuditFilters, AuditPage } from './audit.types.js';

/** An audit page's cursor: occurred_at to the millisecond, and the event id (a bigint). */
const isAuditCursor = (at: string, id: string): boolean =>
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(at) &&
  storableTime(at) !== undefined &&
  /^\d{1,19}$/.test(id) &&
  BigInt(id) <= 9223372036854775807n;

/** Lists the audit log for security teams, page by page. */
@Injectable()
export class AuditListService {
  constructor(private readonly repository: AuditRepository) {}

  /** Newest first, keyset-paginated on (occurred_at, id): no gaps or duplicates while events arrive. */
  async list(f: AuditFilters, limit: number, cursor?: string): Promise<AuditPage> {
    const after = cursor ? decodeCursor(cursor, isAuditCursor) : undefined;
    // One more than the page: whether there is a next page.
    const events = await this.repository.list(f, limit + 1, after);
    const items = events.slice(0, limit);
    return {
      items,
      nextCursor: events.length > limit ? encodeCursor(items[items.length - 1].occurredAt, items[items.length - 1].id) : null,
    };
  }
}
