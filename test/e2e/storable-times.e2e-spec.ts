// Times PostgreSQL cannot store (year 0000, or a year an offset pushes out of 0001–9999, or a day
// that does not exist) in the audit routes' from/to and in the audit and users cursors: a 400 with
// the validation error body naming the field, never a 500 nor a broken export. The first and last
// instants the API accepts still work.
import { runAuditCli } from '../support/audit.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';
import { cursorOf } from '../support/formats.js';

const SOME_UUID = '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6';

describe('times outside what PostgreSQL stores', () => {
  let t: TestApp;
  let auditor: User;
  let admin: User;

  beforeAll(async () => {
    t = await startTestApp();
    auditor = await createUser(t, { role: 'auditor' });
    admin = await createUser(t, { role: 'admin' });
  });
  afterAll(async () => {
    await t.close();
  });

  const get = (path: string, token = auditor.token) => t.request('GET', path, { token });

  const expectRefused = (res: { status: number; body: any; text: string }, field: string): void => {
    expect([res.status, res.text]).toEqual([400, expect.any(String)]);
    expect(res.body).toEqual({
      error: expect.stringMatching(/^Invalid request: /),
      code: 'validation_failed',
      requestId: expect.any(String),
      fields: [{ field, message: expect.any(String) }],
    });
  };

  const UNSTORABLE: [string, string][] = [
    ['year 0000', '0000-01-01'],
    ['year 0000 with a time', '0000-06-01T12:00:00Z'],
    ['year 0001 pushed into year 0000 by its offset', '0001-01-01T00:00+01:00'],
    ['year 9999 pushed into year 10000 by its offset', '9999-12-31T23:00-05:00'],
    ['a day that does not exist', '2026-02-30'],
    ['a 29 February outside a leap year', '2026-02-29T10:00:00Z'],
  ];

  describe.each(UNSTORABLE)('%s (%s)', (_name, time) => {
    const q = encodeURIComponent(time);

    it('GET /api/audit/events: from and to are refused with 400', async () => {
      expectRefused(await get(`/api/audit/events?from=${q}`), 'from');
      expectRefused(await get(`/api/audit/events?to=${q}`), 'to');
    });

    it('GET /api/audit/events/export: 400, not a broken 200', async () => {
      for (const format of ['ndjson', 'csv']) {
        expectRefused(await get(`/api/audit/events/export?format=${format}&from=${q}`), 'from');
        expectRefused(await get(`/api/audit/events/export?format=${format}&to=${q}`), 'to');
      }
    });

    it('GET /api/audit/stats: 400', async () => {
      expectRefused(await get(`/api/audit/stats?from=${q}&to=${encodeURIComponent('0001-06-01')}`), 'from');
      expectRefused(await get(`/api/audit/stats?to=${q}`), 'to');
    });

    it('GET /api/audit/verify: 400', async () => {
      expectRefused(await get(`/api/audit/verify?from=${q}`), 'from');
      expectRefused(await get(`/api/audit/verify?to=${q}`), 'to');
    });
  });

  it('GET /api/audit/stats?from=0000-01-01&to=0000-06-01: 400', async () => {
    const res = await get('/api/audit/stats?from=0000-01-01&to=0000-06-01');
    expect(res.status).toBe(400);
    expect(res.body.fields.map((f: { field: string }) => f.field).sort()).toEqual(['from', 'to']);
  });

  describe('the first and the last instants are accepted', () => {
    it('events, export and verify from 0001-01-01 to 9999-12-31T23:59:59.999Z', async () => {
      const range = `from=0001-01-01&to=${encodeURIComponent('9999-12-31T23:59:59.999Z')}`;
      const events = await get(`/api/audit/events?${range}`);
      expect(events.status).toBe(200);
      expect(events.body.items.length).toBeGreaterThan(0);
      const exported = await get(`/api/audit/events/export?${range}`);
      expect(exported.status).toBe(200);
      expect(exported.text.trim().split('\n').length).toBeGreaterThan(0);
      const verified = await get(`/api/audit/verify?${range}`);
      expect(verified.status).toBe(200);
      expect(verified.body.ok).toBe(true);
      // An offset that keeps the instant in year 0001.
      expect((await get(`/api/audit/events?from=${encodeURIComponent('0001-01-01T00:00-01:00')}`)).status).toBe(200);
    });

    it('stats over periods at both ends', async () => {
      for (const query of [
        'from=0001-01-01&to=0001-01-01',
        'from=0001-01-01&to=0001-01-02&interval=day',
        `to=${encodeURIComponent('0001-01-01T12:00:00Z')}`,
        'to=0001-01-01',
        `from=9999-12-01&to=${encodeURIComponent('9999-12-31T23:59:59.999Z')}&type=token.validate`,
      ]) {
        const res = await get(`/api/audit/stats?${query}`);
        expect([query, res.status]).toEqual([query, 200]);
        expect(res.body).toMatchObject({ buckets: [], topFailingIps: [], topFailingTokens: [] });
        expect(Date.parse(res.body.from)).toBeGreaterThanOrEqual(Date.parse('0001-01-01T00:00:00Z'));
      }
    });
  });

  describe('the audit cursor', () => {
    it.each([
      ['year 0000', '0000-01-01T00:00:00.000Z|5'],
      ['a day that does not exist', '2026-02-30T10:00:00.000Z|5'],
      ['31 April', '2026-04-31T10:00:00.000Z|5'],
    ])('refuses a cursor with %s with 400 naming cursor', async (_name, text) => {
      expectRefused(await get(`/api/audit/events?cursor=${cursorOf(text)}`), 'cursor');
    });

    it('takes the first and the last instants', async () => {
      const first = await get(`/api/audit/events?cursor=${cursorOf('0001-01-01T00:00:00.000Z|5')}`);
      expect([first.status, first.body.items]).toEqual([200, []]);
      const last = await get(`/api/audit/events?cursor=${cursorOf('9999-12-31T23:59:59.999Z|9223372036854775807')}`);
      expect(last.status).toBe(200);
      expect(last.body.items.length).toBeGreaterThan(0);
    });
  });

  describe('the users cursor', () => {
    const list = (cursor: string) => get(`/api/users?cursor=${encodeURIComponent(cursorOf(cursor))}`, admin.token);

    it.each([
      ['year 0000', `0000-01-01T00:00:00.000000Z|${SOME_UUID}`],
      ['a day that does not exist', `2026-02-30T10:00:00.000000Z|${SOME_UUID}`],
      ['a 29 February outside a leap year', `2025-02-29T10:00:00.000000Z|${SOME_UUID}`],
    ])('refuses a cursor with %s with 400 naming cursor', async (_name, text) => {
      expectRefused(await list(text), 'cursor');
    });

    it('takes the first and the last instants', async () => {
      const first = await list(`0001-01-01T00:00:00.000000Z|${SOME_UUID}`);
      expect([first.status, first.body.items]).toEqual([200, []]);
      const last = await list(`9999-12-31T23:59:59.999999Z|${SOME_UUID}`);
      expect(last.status).toBe(200);
      expect(last.body.items.length).toBeGreaterThan(0);
    });
  });

  it('the audit command line refuses --from 0000-01-01 as a usage error', async () => {
    const r = await runAuditCli(t, ['verify', '--from', '0000-01-01']);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('--from must be an ISO-8601 date')]);
  }, 60_000);
});
