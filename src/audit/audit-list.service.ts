import { Injectable } from '@nestjs/common';
import { AppError } from '../common/app-error.js';
import { storableTime } from '../common/timestamps.js';
import { AuditRepository } from './audit.repository.js';
import type { AuditEvent, AuditFilters, AuditPage } from './audit.types.js';

function encodeCursor(e: AuditEvent): string {
  return Buffer.from(`${e.occurredAt}|${e.id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { at: string; id: string } {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const [at, id] = raw.split('|');
  // Only the exact form this API writes: anything else would reach PostgreSQL's casts.
  const valid =
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(at ?? '') && storableTime(at) !== undefined && /^\d{1,19}$/.test(id ?? '');
  if (!valid || BigInt(id) > 9223372036854775807n) {
    throw AppError.badRequest('Invalid request: cursor is not a cursor returned by this API', [
      { field: 'cursor', message: 'cursor is not valid' },
    ]);
  }
  return { at, id };
}

/** Lists the audit log for security teams, page by page. */
@Injectable()
export class AuditListService {
  constructor(private readonly repository: AuditRepository) {}

  /** Newest first, keyset-paginated on (occurred_at, id): no gaps or duplicates while events arrive. */
  async list(f: AuditFilters, limit: number, cursor?: string): Promise<AuditPage> {
    const after = cursor ? decodeCursor(cursor) : undefined;
    // One more than the page: whether there is a next page.
    const events = await this.repository.list(f, limit + 1, after);
    const items = events.slice(0, limit);
    return { items, nextCursor: events.length > limit ? encodeCursor(items[items.length - 1]) : null };
  }
}
