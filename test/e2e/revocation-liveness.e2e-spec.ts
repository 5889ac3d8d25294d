// The revocation channel's connection can die without a word (a firewall dropping an idle flow,
// a failover without a reset): no error, no end, and notifications stop. Here the app reaches
// PostgreSQL through a TCP relay that can freeze the listening connection: its bytes are held,
// its socket stays open. The channel must notice, and the caches must stop trusting themselves.
import { TokenStateCache } from '../../src/mcp-validation/token-state.cache.js';
import { RevocationBus } from '../../src/revocation/revocation.bus.js';
import { BUS_APPLICATION_NAME, PgRelay } from '../support/pg-relay.js';
import { createTestDatabase, createUser, startTestAppOnDatabase, type TestApp } from '../support/test-app.js';
import { until } from '../support/until.js';

/** The channel's checks take seconds (a 3 s deadline, then a reconnection): a longer hang guard. */
const GUARD_MS = 15_000;

describe('revocation channel liveness', () => {
  let database: { url: string; drop: () => Promise<void> };
  let relay: PgRelay;
  let t: TestApp;
  let session: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const relayed = await PgRelay.start(database.url);
    relay = relayed.relay;
    t = await startTestAppOnDatabase(relayed.url);
    session = (await createUser(t)).token;
  });
  afterAll(async () => {
    await t?.close();
    await relay?.close();
    await database?.drop();
  });

  it('a listening connection that stops answering is taken as lost: the cache is bypassed, then the channel comes back', async () => {
    const bus = t.app.get(RevocationBus);
    const cache = t.app.get(TokenStateCache);
    await until('the channel listens', () => bus.healthy, GUARD_MS);

    const created = await t.request('POST', '/api/tokens', {
      token: session,
      body: { name: 'srv', scopes: ['read:data'], durationDays: 30 },
    });
    expect(created.status).toBe(201);
    const validate = () => t.request('POST', '/api/mcp/validate', { token: created.body.token });
    expect((await validate()).status).toBe(200);
    const hits = cache.hits;
    expect((await validate()).status).toBe(200);
    expect(cache.hits).toBe(hits + 1);

    // The connection goes silent: no error, no end, and no notification would come through it.
    expect(relay.freeze(BUS_APPLICATION_NAME)).toBe(1);
    await until('the channel is taken as lost', () => !bus.healthy, GUARD_MS);

    // Revoked behind the app's back (a notification that could not arrive): the next call reads the database.
    await t.db.query(`UPDATE api_tokens SET revoked_at = now() WHERE id = $1`, [created.body.id]);
    const answer = await validate();
    expect(answer.status).toBe(401);
    expect(answer.body.code).toBe('token_revoked');

    // A new listening connection (the relay carries new connections): the channel is back.
    await until('the channel listens again', () => bus.healthy, GUARD_MS);
    expect((await validate()).body.code).toBe('token_revoked');
  });
});

describe('revocation across instances, one of them far from the database', () => {
  let database: { url: string; drop: () => Promise<void> };
  let relay: PgRelay;
  let a: TestApp;
  let b: TestApp;
  let session: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const relayed = await PgRelay.start(database.url);
    relay = relayed.relay;
    a = await startTestAppOnDatabase(database.url);
    b = await startTestAppOnDatabase(relayed.url);
    session = (await createUser(a)).token;
    // B's notifications arrive 300 ms after A's.
    relay.delay(BUS_APPLICATION_NAME, 300);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await relay?.close();
    await database?.drop();
  });

  it('a token revoked through A is refused by the very next call through B, B receiving the notification late', async () => {
    const busB = b.app.get(RevocationBus);
    const cacheB = b.app.get(TokenStateCache);
    await until('both channels listen', () => a.app.get(RevocationBus).healthy && busB.healthy, GUARD_MS);
    for (let trial = 0; trial < 5; trial++) {
      const created = await a.request('POST', '/api/tokens', {
        token: session,
        body: { name: 'srv', scopes: ['read:data'], durationDays: 30 },
      });
      expect(created.status).toBe(201);
      const validateB = () => b.request('POST', '/api/mcp/validate', { token: created.body.token });
      expect((await validateB()).status).toBe(200);
      const hits = cacheB.hits;
      expect((await validateB()).status).toBe(200);
      expect(cacheB.hits).toBe(hits + 1);

      expect((await a.request('DELETE', `/api/tokens/${created.body.id}`, { token: session })).status).toBe(204);
      const next = await validateB();
      expect(next.status).toBe(401);
      expect(next.body.code).toBe('token_revoked');
    }
  });
});
