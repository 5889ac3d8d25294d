import { AppError } from './app-error.js';
import { decodeCursor, encodeCursor } from './keyset-cursor.js';

const digits = (at: string, id: string) => at === '2026-11-26T09:12:44.120Z' && /^\d+$/.test(id);
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

describe('keyset cursors', () => {
  it('gives back the time and id it was made of', () => {
    expect(decodeCursor(encodeCursor('2026-11-26T09:12:44.120Z', '4821'), digits)).toEqual({ at: '2026-11-26T09:12:44.120Z', id: '4821' });
  });

  it.each([
    ['no separator', b64('2026-11-26T09:12:44.120Z')],
    ['an id its list does not write', b64('2026-11-26T09:12:44.120Z|48x')],
    ['text after the id', b64('2026-11-26T09:12:44.120Z|4821|junk')],
    ['not base64url of a cursor', '%%%'],
  ])('refuses %s with a 400 on the cursor field', (_case, cursor) => {
    let error: unknown;
    try {
      decodeCursor(cursor, digits);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(400);
    expect((error as AppError).message).toBe('Invalid request: cursor is not a cursor returned by this API');
  });
});
