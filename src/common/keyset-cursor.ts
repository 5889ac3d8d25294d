import { AppError } from './app-error.js';

/**
 * The position after a page's last row in a list sorted by (time, id), as the opaque `nextCursor`
 * the API hands out: `time|id` in base64url.
 */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`, 'utf8').toString('base64url');
}

/**
 * The time and id of a cursor this API wrote. `valid` accepts only the exact form its list writes:
 * anything else would reach PostgreSQL's casts, and is answered 400 on the `cursor` field.
 */
export function decodeCursor(cursor: string, valid: (at: string, id: string) => boolean): { at: string; id: string } {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const sep = raw.indexOf('|');
  const [at, id] = [raw.slice(0, sep), raw.slice(sep + 1)];
  if (sep < 0 || !valid(at, id)) {
    throw AppError.badRequest('Invalid request: cursor is not a cursor returned by this API', [
      { field: 'cursor', message: 'cursor is not valid' },
    ]);
  }
  return { at, id };
}
