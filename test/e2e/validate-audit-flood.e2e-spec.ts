// Audit flooding: bad tokens sent to the validate route from one address, far past the
// failed-validation limit. Each validation checked before the limit has its own event; those the
// limit refuses (429) are counted into one event per address and minute, written when the minute
// ends or when the service stops, so that the log grows no faster than the limit allows.
import { request as httpRequest } from 'node:http';
import pg from 'pg';
import { ThrottledValidations } from '../../src/mcp-validation/throttled-validations.js';
import { createTestDatabase, createUser, startTestAppOnDatabase, type TestApp } from '../support/test-app.js';

const LIMIT = 10;
const SENT = 610;

/** A validation of `token` from a chosen loopback address; its status. */
function validateFrom(localAddress: string, baseUrl: string, token: string): Promise<number> {
  const url = new URL('/api/mcp/validate', baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function flood(baseUrl: string, ip: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) => validateFrom(ip, baseUrl, `bad.token.${i + j}`));
    statuses.push(...(await Promise.all(batch)));
  }
  return statuses;
}

describe('validate: failures past the limit do not flood the audit log', () => {
  let database: { url: string; drop: () => Promise<void> };
  let t: TestApp | undefined;
  let db: pg.Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    t = await startTestAppOnDatabase(database.url, { RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE: String(LIMIT) });
    db = new pg.Pool({ connectionString: database.url, max: 2 });
  });
  afterAll(async () => {
    await t?.close();
    await db.end();
    await database.drop();
  });

  const rowsOf = async (ip: string) =>
    (
      await db.query(`SELECT outcome, details FROM audit_event WHERE type = 'token.validate' AND ip = $1 ORDER BY id`, [ip])
    ).rows as { outcome: string; details: Record<string, any> }[];

  it(`${SENT} bad tokens from one address: ${LIMIT} checked events and one count of the ${SENT - LIMIT} refused, kept at shutdown`, async () => {
    const app = t!;
    const user = await createUser(app);
    const valid = (await app.request('POST', '/api/tokens', { token: user.token, body: { name: 'mcp', scopes: ['read:data'], durationDays: 1 } }))
      .body.token as string;

    const statuses = await flood(app.baseUrl, '127.0.0.30', SENT);
    expect(statuses.filter((s) => s === 401)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(SENT - LIMIT);
    // A valid token from the same address is still answered, and audited.
    expect(await validateFrom('127.0.0.30', app.baseUrl, valid)).toBe(200);

    // Before the minute's count is written: one event per checked validation, none per refused one.
    const during = await rowsOf('127.0.0.30');
    expect(during.map((r) => r.outcome).sort()).toEqual([...Array(LIMIT).fill('invalid'), 'valid']);

    // Stopping the service writes the counts it holds.
    await app.close();
    t = undefined;
    const after = await rowsOf('127.0.0.30');
    const throttled = after.filter((r) => r.outcome === 'throttled');
    // One event for the minute (two when the flood straddled the turn of a minute).
    expect(throttled.length === 1 || throttled.length === 2).toBe(true);
    expect(after).toHaveLength(LIMIT + 1 + throttled.length);
    expect(throttled.reduce((n, r) => n + Number(r.details.count), 0)).toBe(SENT - LIMIT);
    expect(throttled.reduce((n, r) => n + Number(r.details.outcomes.invalid), 0)).toBe(SENT - LIMIT);
    expect(new Set(throttled.map((r) => r.details.minute)).size).toBe(throttled.length);
    for (const r of throttled) expect(Date.parse(r.details.minute) % 60_000).toBe(0);
    // Checked validations plus the throttled counts: every answer is accounted for.
    const accounted = after.reduce((n, r) => n + (r.outcome === 'throttled' ? Number(r.details.count) : 1), 0);
    expect(accounted).toBe(SENT + 1);
    // As the benchmark counts them (bench/validate-bench.ts, auditCount).
    const counted = await db.query(
      `SELECT count(*) FILTER (WHERE "outcome" <> 'throttled')
              + coalesce(sum(("details"->>'count')::bigint) FILTER (WHERE "outcome" = 'throttled'), 0) AS n
         FROM "audit_event" WHERE "type" = 'token.validate' AND "ip" = '127.0.0.30'`,
    );
    expect(Number(counted.rows[0].n)).toBe(SENT + 1);

    // The chain still verifies with the count in it.
    t = await startTestAppOnDatabase(database.url);
    const auditor = await createUser(t, { role: 'auditor' });
    const verify = await t.request('GET', '/api/audit/verify', { token: auditor.token });
    expect(verify.body.ok).toBe(true);
  });

  it('counts of a minute are written once per address, each address its own event', async () => {
    const counter = t!.app.get(ThrottledValidations);
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    for (let i = 0; i < 5; i++) counter.count('10.9.0.1', 'invalid', minute + i);
    counter.count('10.9.0.1', 'revoked', minute + 10);
    counter.count('10.9.0.2', 'expired', minute + 20);
    expect(await rowsOf('10.9.0.1')).toEqual([]);
    await counter.flush();
    const one = await rowsOf('10.9.0.1');
    expect(one).toHaveLength(1);
    expect(one[0].details).toMatchObject({ count: 6, outcomes: { invalid: 5, revoked: 1 } });
    expect((await rowsOf('10.9.0.2'))[0].details).toMatchObject({ count: 1, outcomes: { expired: 1 } });
  });
});
