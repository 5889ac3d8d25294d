// Revocation across instances: two apps on one database, each with its token-state cache on.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.js';
import { TokenStateCache } from '../../src/mcp-validation/token-state.cache.js';
import { RevocationBus } from '../../src/revocation/revocation.bus.js';
import { BUS_APPLICATION_NAME, PgRelay } from '../support/pg-relay.js';
import { createUser, startTestApp, startTestAppOnDatabase, testConfig, type TestApp } from '../support/test-app.js';
import { until } from '../support/until.js';

async function secondInstance(databaseUrl: string): Promise<{ app: NestFastifyApplication; url: string }> {
  const config = testConfig(databaseUrl, {}, mkdtempSync(join(tmpdir(), 'hospiai-test-b-')));
  const app = await createApp({ config, databaseUrl, logDestination: { write: () => undefined } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  return { app, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

async function validate(baseUrl: string, token: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${baseUrl}/api/mcp/validate`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
}

describe('revocation across instances', () => {
  let a: TestApp;
  let b: { app: NestFastifyApplication; url: string };
  let session: string;

  beforeAll(async () => {
    a = await startTestApp();
    b = await secondInstance(a.databaseUrl);
    session = (await createUser(a)).token;
  });
  afterAll(async () => {
    await b.app.close();
    await a.close();
  });

  async function newToken(): Promise<{ id: string; token: string }> {
    const res = await a.request('POST', '/api/tokens', { token: session, body: { name: 'srv', scopes: ['read:data'], durationDays: 30 } });
    expect(res.status).toBe(201);
    return res.body;
  }

  it('both instances listen for revocations', () => {
    expect(a.app.get(RevocationBus).healthy).toBe(true);
    expect(b.app.get(RevocationBus).healthy).toBe(true);
  });

  it('a token revoked through A is refused by the very next validation through B, with B caching it', async () => {
    for (let trial = 0; trial < 20; trial++) {
      const tok = await newToken();
      // Warm B's cache: the second call is served from memory.
      expect((await validate(b.url, tok.token)).status).toBe(200);
      const hitsBefore = b.app.get(TokenStateCache).hits;
      expect((await validate(b.url, tok.token)).status).toBe(200);
      expect(b.app.get(TokenStateCache).hits).toBe(hitsBefore + 1);

      const del = await a.request('DELETE', `/api/tokens/${tok.id}`, { token: session });
      expect(del.status).toBe(204);
      const after = await validate(b.url, tok.token);
      expect(after).toEqual({ status: 401, body: { error: 'Token révoqué ou inexistant', code: 'token_revoked' } });
      // And on A itself, at once.
      expect((await validate(a.baseUrl, tok.token)).status).toBe(401);
    }
  });

  it('rotation through B revokes the old token on A at once', async () => {
    const tok = await newToken();
    expect((await validate(a.baseUrl, tok.token)).status).toBe(200);
    const res = await fetch(`${b.url}/api/tokens/${tok.id}/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(201);
    const rotated = (await res.json()) as { token: string };
    expect((await validate(a.baseUrl, tok.token)).body.code).toBe('token_revoked');
    expect((await validate(a.baseUrl, rotated.token)).status).toBe(200);
  });

  it('disabling the owner through A stops the cached token on B at once', async () => {
    const admin = await createUser(a, { role: 'admin' });
    const owner = await createUser(a);
    const res = await a.request('POST', '/api/tokens', { token: owner.token, body: { name: 'x', scopes: ['read:data'], durationDays: 1 } });
    const token = res.body.token as string;
    expect((await validate(b.url, token)).status).toBe(200);
    expect((await validate(b.url, token)).status).toBe(200);
    const patch = await a.request('PATCH', `/api/users/${owner.id}`, { token: admin.token, body: { disabled: true } });
    expect(patch.status).toBe(200);
    expect((await validate(b.url, token)).body.code).toBe('token_revoked');
  });

  // On a third instance, C, which reaches the database through a relay (see PgRelay) so that its
  // channel can be kept down for the whole of the checks.
  it('while the channel is down the cache is bypassed, and it recovers by itself', async () => {
    const { relay, url } = await PgRelay.start(a.databaseUrl);
    let c: TestApp | undefined;
    try {
      c = await startTestAppOnDatabase(url);
      const bus = c.app.get(RevocationBus);
      const cache = c.app.get(TokenStateCache);
      expect(bus.healthy).toBe(true);
      const tok = await newToken();
      const kept = await newToken();
      // Both cached on C: each second validation is served from memory.
      for (const x of [tok, kept]) {
        expect((await validate(c.baseUrl, x.token)).status).toBe(200);
        const hits = cache.hits;
        expect((await validate(c.baseUrl, x.token)).status).toBe(200);
        expect(cache.hits).toBe(hits + 1);
      }

      relay.hold();
      try {
        // Cut C's listening connection from the database side; its reconnection waits at the relay.
        const { rows } = await a.db.query(
          `SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
            WHERE application_name = $1 AND datname = current_database() AND client_port = ANY($2::int[])`,
          [BUS_APPLICATION_NAME, relay.busPorts],
        );
        expect(rows).toEqual([{ cut: true }]);
        await until("C's channel down and its reconnection held", () => !bus.healthy && relay.held >= 1);

        const counters = { hits: cache.hits, misses: cache.misses };
        // Validated while the channel is down, then revoked with plain SQL (no notification at all):
        // only a database read can see it, and the next validation does.
        expect((await validate(c.baseUrl, tok.token)).status).toBe(200);
        await a.db.query(`UPDATE api_tokens SET revoked_at = now() WHERE id = $1`, [tok.id]);
        expect(await validate(c.baseUrl, tok.token)).toEqual({
          status: 401,
          body: { error: 'Token révoqué ou inexistant', code: 'token_revoked' },
        });
        // A token cached before the cut is read from the database as well, on every call.
        expect((await validate(c.baseUrl, kept.token)).status).toBe(200);
        expect((await validate(c.baseUrl, kept.token)).status).toBe(200);
        // The cache was neither read nor filled: every one of these validations went to the database.
        expect({ hits: cache.hits, misses: cache.misses, size: cache.size }).toEqual({ ...counters, size: 0 });
        // And the channel was down throughout.
        expect(bus.healthy).toBe(false);
      } finally {
        relay.release();
      }

      // It recovers by itself once PostgreSQL can be reached: the held connection goes through.
      await until("C's channel back up", () => bus.healthy);
      expect((await validate(c.baseUrl, tok.token)).body.code).toBe('token_revoked');
      // The cache serves again...
      const hits = cache.hits;
      expect((await validate(c.baseUrl, kept.token)).status).toBe(200);
      expect((await validate(c.baseUrl, kept.token)).status).toBe(200);
      expect(cache.hits).toBe(hits + 1);
      // ...and the channel carries revocations again: once C has the one made through A, the next validation is refused.
      let heard = false;
      const unsubscribe = bus.onRevocation((e) => {
        if (e.kind === 'token' && e.subjectId === kept.id) heard = true;
      });
      try {
        expect((await a.request('DELETE', `/api/tokens/${kept.id}`, { token: session })).status).toBe(204);
        await until('the revocation made through A, notified to C', () => heard);
      } finally {
        unsubscribe();
      }
      expect((await validate(c.baseUrl, kept.token)).body.code).toBe('token_revoked');
    } finally {
      await c?.close();
      await relay.close();
    }
  });
});
