// The token-state lookup of validation, introspection and the API-token guard failing for a
// reason other than an unreachable database (here a lock it cannot get in time): the answer is
// the API's "unavailable" one, with Retry-After, audited like any other.
import pg from 'pg';
import { storedEvents } from '../support/audit.js';
import { basic, createToken, registerClient, type CreatedToken, type RegisteredClient } from '../support/mcp.js';
import { createTestDatabase, createUser, startTestAppOnDatabase, type TestApp, type User as TestUser } from '../support/test-app.js';

describe('token-state lookup failing on a database that answers', () => {
  let t: TestApp;
  let drop: () => Promise<void>;
  let auditor: TestUser;
  let client: RegisteredClient;

  beforeAll(async () => {
    const database = await createTestDatabase();
    drop = database.drop;
    // Every session of the app waits at most 200 ms for a lock (set before the app connects).
    const admin = new pg.Client({ connectionString: process.env.HOSPIAI_TEST_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE "${new URL(database.url).pathname.slice(1)}" SET lock_timeout = '200ms'`);
    } finally {
      await admin.end();
    }
    t = await startTestAppOnDatabase(database.url);
    auditor = await createUser(t, { role: 'auditor' });
    const admin2 = await createUser(t, { role: 'admin' });
    client = await registerClient(t, admin2.token);
  });
  afterAll(async () => {
    await t?.close();
    await drop?.();
  });

  /** Runs `fn` while another session holds api_tokens locked (ACCESS EXCLUSIVE), as a migration would. */
  async function whileTokensLocked<T>(fn: () => Promise<T>): Promise<T> {
    const locker = new pg.Client({ connectionString: t.databaseUrl });
    await locker.connect();
    try {
      await locker.query(`SET lock_timeout = 0`);
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE`);
      return await fn();
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
  }

  const lookupLogLines = () => t.logs.filter((l) => l.includes('token state lookup failed'));

  function expectLoggedWithoutQuery(lines: string[], token: CreatedToken): void {
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('55P03');
    expect(lines[0]).not.toContain(token.id);
    expect(lines[0]).not.toContain(token.token);
    expect(lines[0]).not.toMatch(/SELECT|api_tokens/);
  }

  it('validate answers 503 {"error":"Service indisponible"} with Retry-After, audited, and recovers', async () => {
    // Never validated: its state is not cached, so the lookup goes to the database.
    const token = await createToken(t, auditor.token);
    const logsBefore = lookupLogLines().length;

    const res = await whileTokensLocked(() => t.request('POST', '/api/mcp/validate', { token: token.token }));
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: 'Service indisponible' });
    expect(res.headers.get('retry-after')).toBe('5');
    expectLoggedWithoutQuery(lookupLogLines().slice(logsBefore), token);

    const events = (await storedEvents(t)).filter((e) => e.requestId === res.headers.get('x-request-id'));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'token.validate', outcome: 'error', details: { reason: 'unavailable' } });
    expect(JSON.stringify(events[0])).not.toContain(token.token);

    const after = await t.request('POST', '/api/mcp/validate', { token: token.token });
    expect(after.status).toBe(200);
    expect(after.body.token.id).toBe(token.id);
  });

  it('introspection answers 503 temporarily_unavailable with Retry-After, audited', async () => {
    const token = await createToken(t, auditor.token);
    const logsBefore = lookupLogLines().length;

    const res = await whileTokensLocked(() =>
      fetch(`${t.baseUrl}/api/oauth/introspect`, {
        method: 'POST',
        headers: {
          authorization: basic(client.clientId, client.clientSecret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token: token.token }).toString(),
      }),
    );
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'Service indisponible' });
    expect(res.headers.get('retry-after')).toBe('5');
    expectLoggedWithoutQuery(lookupLogLines().slice(logsBefore), token);

    const events = (await storedEvents(t)).filter((e) => e.requestId === res.headers.get('x-request-id'));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'token.introspect',
      outcome: 'error',
      details: { reason: 'unavailable', clientId: client.clientId },
    });
  });

  it('a route guarded by a token scope answers 503 with Retry-After', async () => {
    const token = await createToken(t, auditor.token, ['read:audit']);
    const res = await whileTokensLocked(() => t.request('GET', '/api/audit/verify', { token: token.token }));
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'Service indisponible', code: 'service_unavailable' });
    expect(res.headers.get('retry-after')).toBe('5');
  });
});
