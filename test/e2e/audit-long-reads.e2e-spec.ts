/**
 * Exports and verifications each hold a connection of their own and read the whole log: one
 * instance runs four at most, and while four are under way any more is refused with 429 and
 * Retry-After, over HTTP as when called in the process.
 */
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { AppError } from '../../src/common/app-error.js';
import { AuditExportService } from '../../src/audit/audit-export.service.js';
import { AuditVerifyService } from '../../src/audit/audit-verify.service.js';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

const drain = async (stream: Readable): Promise<string> => {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
};

describe('audit exports and verifications under way', () => {
  let t: TestApp;
  let auditor: User;
  let exporter: AuditExportService;
  let verifier: AuditVerifyService;

  beforeAll(async () => {
    t = await startTestApp();
    auditor = await createUser(t, { role: 'auditor' });
    exporter = t.app.get(AuditExportService);
    verifier = t.app.get(AuditVerifyService);
    await t.app.get(AuditWriter).record({ type: 'token.validate', outcome: 'valid', details: { n: 1 } });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('four run at once; more are refused with 429 and Retry-After until they end', async () => {
    // A lock on the table holds each reading where it starts: its connection stays taken.
    const holder: pg.PoolClient = await t.db.connect();
    let held: Array<Promise<unknown>> = [];
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE');
      const exports = await Promise.all([exporter.export({}, 'ndjson'), exporter.export({}, 'csv'), exporter.export({}, 'ndjson')]);
      held = [...exports.map(drain), verifier.verify()];
      // The verification takes its connection before it waits on the lock.
      for (let i = 0; i < 100 && (await activeReads()) < 4; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await activeReads()).toBe(4);

      const refused = await exporter.export({}, 'ndjson').catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(AppError);
      expect(refused).toMatchObject({ status: 429, headers: { 'Retry-After': '30' } });
      await expect(verifier.verify()).rejects.toMatchObject({ status: 429 });

      for (const path of ['/api/audit/events/export?format=csv', '/api/audit/verify']) {
        const res = await t.request('GET', path, { token: auditor.token });
        expect(res.status).toBe(429);
        expect(res.headers.get('retry-after')).toBe('30');
        expect(res.body).toMatchObject({
          code: 'too_many_requests',
          error: 'Too many audit exports and verifications under way: try again later',
        });
      }
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    const [ndjson, csv, ndjsonAgain, verified] = await Promise.all(held);
    expect(String(ndjson).trim().split('\n')).toHaveLength(Number((await t.db.query('SELECT count(*) AS n FROM audit_event')).rows[0].n));
    expect(String(csv).split('\n')[0]).toMatch(/^id,occurredAt,/);
    expect(ndjsonAgain).toBe(ndjson);
    expect(verified).toMatchObject({ ok: true });

    // Every connection is given back once it has closed (just after its stream ends): all four may
    // run again.
    const again = await Promise.all([1, 2, 3, 4].map(() => whenFree(() => exporter.export({}, 'ndjson')).then(drain)));
    expect(again.every((text) => text === ndjson)).toBe(true);
    const res = await t.request('GET', '/api/audit/verify', { token: auditor.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true });
  });

  it('a verification whose HTTP client goes away ends at once, and gives its place back', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const holder: pg.PoolClient = await t.db.connect();
    let fifth: Promise<unknown> | undefined;
    try {
      // The lock holds each walk where it starts, as a long walk would hold it.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE');
      const clients = [1, 2, 3, 4].map(() => new AbortController());
      const calls = clients.map((c) =>
        fetch(new URL('/api/audit/verify', t.baseUrl), { headers: { authorization: `Bearer ${auditor.token}` }, signal: c.signal }).then(
          (r) => r.status,
          () => 'gone',
        ),
      );
      for (let i = 0; i < 100 && (await activeReads()) < 4; i++) await sleep(20);
      expect(await activeReads()).toBe(4);
      for (const c of clients) c.abort();
      expect(await Promise.all(calls)).toEqual(['gone', 'gone', 'gone', 'gone']);

      // Their places are free again while the lock still holds: a fifth verification starts (and
      // waits on the lock) instead of being refused.
      for (let i = 0; !fifth; i++) {
        const attempt = verifier.verify();
        const outcome = await Promise.race([
          attempt.then(
            () => 'ended',
            (err: unknown) => err,
          ),
          sleep(300).then(() => 'started'),
        ]);
        if (outcome === 'started') fifth = attempt;
        else if (i >= 20) throw new Error(`the abandoned verifications still hold their places: ${String(outcome)}`);
        else {
          expect(outcome).toMatchObject({ status: 429 });
          await sleep(50);
        }
      }
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect(await fifth).toMatchObject({ ok: true });
    // Walks ended for want of a client are not failed requests: no error is logged for them.
    const failed = t.logs
      .map((l) => JSON.parse(l) as { level: string; route?: string })
      .filter((l) => l.level === 'error' && l.route === '/api/audit/verify');
    expect(failed).toEqual([]);
  });

  /** `start()` once it is not refused for want of a free place (each try 50 ms apart, 5 s at most). */
  async function whenFree<T>(start: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await start();
      } catch (err) {
        if (!(err instanceof AppError && err.status === 429) || i >= 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** The exports' and verifications' own connections, as PostgreSQL lists them. */
  async function activeReads(): Promise<number> {
    const { rows } = await t.db.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name ~ '-(export|verify)$'`,
    );
    return rows[0].n as number;
  }
});
