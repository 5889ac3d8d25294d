// Interleavings of revocations across instances that the other revocation tests do not force: two
// revoking transactions that commit in the other order than their revocation ids; a revocation made
// through an instance whose own notification channel is down; and an instance that acknowledges a
// revocation, then stops listening before the revoking instance counts the listeners. Each instance
// reaches PostgreSQL through its own relay, so that any side can be slowed or cut.
import { TokenStateCache } from '../../src/mcp-validation/token-state.cache.js';
import pg from 'pg';
import { REVOCATION_ACK_CHANNEL, RevocationBus } from '../../src/revocation/revocation.bus.js';
import { basic, createToken, idsOf, registerClient, revoked, SseReader, type RegisteredClient } from '../support/mcp.js';
import { BUS_APPLICATION_NAME, PgRelay } from '../support/pg-relay.js';
import { createTestDatabase, createUser, startTestAppOnDatabase, type TestApp, type User } from '../support/test-app.js';
import { until } from '../support/until.js';

const GUARD_MS = 15_000;
/** The application_name of the app's pool (src/database/data-source-options.ts). */
const POOL_APPLICATION_NAME = 'hospiai';

describe('revocation races across two instances', () => {
  let database: { url: string; drop: () => Promise<void> };
  let relayA: PgRelay;
  let relayB: PgRelay;
  let a: TestApp;
  let b: TestApp;
  let admin: User;
  let user: User;
  let client: RegisteredClient;
  const readers: SseReader[] = [];

  async function follow(headers: Record<string, string> = {}): Promise<SseReader> {
    const reader = await SseReader.open(`${b.baseUrl}/api/mcp/revocations`, {
      authorization: basic(client.clientId, client.clientSecret),
      ...headers,
    });
    readers.push(reader);
    return reader;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    const ra = await PgRelay.start(database.url);
    const rb = await PgRelay.start(database.url);
    relayA = ra.relay;
    relayB = rb.relay;
    a = await startTestAppOnDatabase(ra.url);
    b = await startTestAppOnDatabase(rb.url);
    admin = await createUser(b, { role: 'admin' });
    user = await createUser(b);
    client = await registerClient(b, admin.token);
    await until('both channels listen', () => a.app.get(RevocationBus).healthy && b.app.get(RevocationBus).healthy, GUARD_MS);
  });
  afterEach(() => {
    for (const r of readers.splice(0)) r.close();
    relayA.delay(POOL_APPLICATION_NAME, 0);
    relayB.delay(BUS_APPLICATION_NAME, 0);
    relayA.release();
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await relayA?.close();
    await relayB?.close();
    await database?.drop();
  });

  it('a stream resumed from the last id it was sent misses no revocation that committed after a later id', async () => {
    const x = await createToken(b, user.token);
    const y = await createToken(b, user.token);
    const s1 = await follow();
    await s1.until((ev) => ev.some((e) => e.event === 'ready'));

    const seq = async (): Promise<string> =>
      String((await b.db.query(`SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM revocation_event_id_seq`)).rows[0].n);
    const before = await seq();
    // A is slow to its database: its revocation of X takes its id, then takes a while to commit.
    relayA.delay(POOL_APPLICATION_NAME, 700);
    const revokeX = a.request('DELETE', `/api/tokens/${x.id}`, { token: user.token });
    await until('A has taken a revocation id', async () => (await seq()) !== before, GUARD_MS);
    // Meanwhile Y is revoked through B, which is quick.
    expect((await b.request('DELETE', `/api/tokens/${y.id}`, { token: user.token })).status).toBe(204);
    const yEvent = revoked(await s1.until((ev) => revoked(ev).some((e) => idsOf(e).includes(y.id)))).find((e) => idsOf(e).includes(y.id))!;
    const seenOnS1 = revoked(s1.events).flatMap(idsOf);
    // The MCP server's connection drops right after Y's event; X's revocation commits while it is away.
    s1.close();
    expect((await revokeX).status).toBe(204);
    relayA.delay(POOL_APPLICATION_NAME, 0);

    // It resumes from the last id it was sent, as the client library does.
    const s2 = await follow({ 'last-event-id': yEvent.id! });
    const replayed = revoked(await s2.until((ev) => ev.some((e) => e.event === 'ready'))).flatMap(idsOf);
    expect([...seenOnS1, ...replayed]).toEqual(expect.arrayContaining([x.id, y.id]));
  });

  it('a token revoked through an instance whose own channel is down is refused by the very next call through the other', async () => {
    const busA = a.app.get(RevocationBus);
    const cacheB = b.app.get(TokenStateCache);
    const created = await createToken(a, user.token);
    const validateB = () => b.request('POST', '/api/mcp/validate', { token: created.token });
    expect((await validateB()).status).toBe(200);
    const hits = cacheB.hits;
    expect((await validateB()).status).toBe(200);
    expect(cacheB.hits).toBe(hits + 1);

    // A's listening connection is lost, and its new one waits at the relay: A's channel stays down.
    relayA.hold();
    await b.db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND client_port = ANY($2::int[])`,
      [BUS_APPLICATION_NAME, relayA.busPorts],
    );
    await until("A's channel is down", () => !busA.healthy, GUARD_MS);
    // B hears of revocations 300 ms after PostgreSQL sends them (a longer path, a busy process).
    relayB.delay(BUS_APPLICATION_NAME, 300);

    expect((await a.request('DELETE', `/api/tokens/${created.id}`, { token: user.token })).status).toBe(204);
    const next = await validateB();
    expect(next.status).toBe(401);
    expect(next.body.code).toBe('token_revoked');

    relayB.delay(BUS_APPLICATION_NAME, 0);
    relayA.release();
    await until("A's channel listens again", () => busA.healthy, GUARD_MS);
  });
});

describe('revocation acknowledgements, an instance leaving as a revocation is settled', () => {
  let database: { url: string; drop: () => Promise<void> };
  const relays: PgRelay[] = [];
  let a: TestApp;
  let b: TestApp;
  let c: TestApp;
  let session: string;
  let acks: pg.Client;
  const ackPayloads: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const apps: TestApp[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await PgRelay.start(database.url);
      relays.push(r.relay);
      apps.push(await startTestAppOnDatabase(r.url));
    }
    [a, b, c] = apps;
    session = (await createUser(a)).token;
    acks = new pg.Client({ connectionString: database.url });
    await acks.connect();
    acks.on('notification', (m) => m.channel === REVOCATION_ACK_CHANNEL && m.payload && ackPayloads.push(m.payload));
    await acks.query(`LISTEN ${REVOCATION_ACK_CHANNEL}`);
    await until('the three channels listen', () => [a, b, c].every((t) => t.app.get(RevocationBus).healthy), GUARD_MS);
  });
  afterAll(async () => {
    for (const r of relays) r.release();
    await acks?.end();
    await c?.close();
    await b?.close();
    await a?.close();
    for (const r of relays) await r.close();
    await database?.drop();
  });

  it("an instance's acknowledgement does not stand for another's when it stops listening before they are counted", async () => {
    const [relayA, relayB, relayC] = relays;
    const busB = b.app.get(RevocationBus);
    const cacheC = c.app.get(TokenStateCache);
    const created = await createToken(a, session);
    const validateC = () => c.request('POST', '/api/mcp/validate', { token: created.token });
    expect((await validateC()).status).toBe(200);
    const hits = cacheC.hits;
    expect((await validateC()).status).toBe(200);
    expect(cacheC.hits).toBe(hits + 1);

    // C hears of revocations 1 s after PostgreSQL sends them; A's answers from its pool come 250 ms late,
    // so that it counts the listening connections a moment after its revocation has committed.
    relayC.delay(BUS_APPLICATION_NAME, 1000);
    relayA.delay(POOL_APPLICATION_NAME, 250);
    const revoke = a.request('DELETE', `/api/tokens/${created.id}`, { token: session });
    // B applies and acknowledges at once, then its listening connection goes (a restart, a reconnection) and stays away.
    await until('B has acknowledged', () => ackPayloads.some((p) => p.split(' ')[1] === busB.instanceId), GUARD_MS);
    relayB.hold();
    await c.db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND client_port = ANY($2::int[])`,
      [BUS_APPLICATION_NAME, relayB.busPorts],
    );
    await until("B's channel is down", () => !busB.healthy, GUARD_MS);

    expect((await revoke).status).toBe(204);
    relayA.delay(POOL_APPLICATION_NAME, 0);
    const next = await validateC();
    expect(next.status).toBe(401);
    expect(next.body.code).toBe('token_revoked');
    relayC.delay(BUS_APPLICATION_NAME, 0);
  });
});
