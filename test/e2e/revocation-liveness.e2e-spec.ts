// The revocation channel's connection can die without a word (a firewall dropping an idle flow,
// a failover without a reset): no error, no end, and notifications stop. Here the app reaches
// PostgreSQL through a TCP relay that can freeze the listening connection: its bytes are held,
// its socket stays open. The channel must notice, and the caches must stop trusting themselves.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { TokenStateCache } from '../../src/mcp-validation/token-state.cache.js';
import { RevocationBus } from '../../src/revocation/revocation.bus.js';
import { createTestDatabase, createUser, startTestAppOnDatabase, type TestApp } from '../support/test-app.js';

/**
 * A TCP relay to PostgreSQL; `freeze(name)` stops carrying the connections of that application_name,
 * `delay(name, ms)` holds what PostgreSQL sends them for that long.
 */
class FreezingRelay {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; name: string; frozen: boolean }>();
  private readonly delays = new Map<string, number>();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly upstreamPort: number,
  ) {
    this.server = createServer((client) => this.relay(client));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  /** Connections of that application_name that are open now stop carrying bytes either way. */
  freeze(name: string): number {
    let n = 0;
    for (const p of this.pairs) {
      if (p.name === name && !p.frozen) {
        p.frozen = true;
        n += 1;
      }
    }
    return n;
  }

  delay(name: string, ms: number): void {
    this.delays.set(name, ms);
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const upstream = createConnection({ host: this.host, port: this.upstreamPort });
    const pair = { client, upstream, name: '', frozen: false };
    this.pairs.add(pair);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => {
      // The startup message carries application_name in clear (no TLS to the test database).
      if (pair.name === '') {
        const m = /application_name\0([^\0]*)\0/.exec(chunk.toString('latin1'));
        pair.name = m ? m[1] : '-';
      }
      if (!pair.frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const ms = this.delays.get(pair.name) ?? 0;
      if (ms > 0) setTimeout(() => !pair.frozen && !client.destroyed && client.write(chunk), ms);
      else if (!pair.frozen) client.write(chunk);
    });
  }
}

async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('revocation channel liveness', () => {
  let database: { url: string; drop: () => Promise<void> };
  let relay: FreezingRelay;
  let t: TestApp;
  let session: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.url);
    relay = new FreezingRelay(url.hostname, Number(url.port || 5432));
    await relay.listen();
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    t = await startTestAppOnDatabase(url.toString());
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
    await until('the channel listens', () => bus.healthy);

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
    expect(relay.freeze('hospiai-revocations')).toBe(1);
    await until('the channel is taken as lost', () => !bus.healthy);

    // Revoked behind the app's back (a notification that could not arrive): the next call reads the database.
    await t.db.query(`UPDATE api_tokens SET revoked_at = now() WHERE id = $1`, [created.body.id]);
    const answer = await validate();
    expect(answer.status).toBe(401);
    expect(answer.body.code).toBe('token_revoked');

    // A new listening connection (the relay carries new connections): the channel is back.
    await until('the channel listens again', () => bus.healthy);
    expect((await validate()).body.code).toBe('token_revoked');
  });
});

describe('revocation across instances, one of them far from the database', () => {
  let database: { url: string; drop: () => Promise<void> };
  let relay: FreezingRelay;
  let a: TestApp;
  let b: TestApp;
  let session: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.url);
    relay = new FreezingRelay(url.hostname, Number(url.port || 5432));
    await relay.listen();
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    a = await startTestAppOnDatabase(database.url);
    b = await startTestAppOnDatabase(url.toString());
    session = (await createUser(a)).token;
    // B's notifications arrive 300 ms after A's.
    relay.delay('hospiai-revocations', 300);
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
    await until('both channels listen', () => a.app.get(RevocationBus).healthy && busB.healthy);
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
