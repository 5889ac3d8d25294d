// Revocation across instances: two apps on one database, each with its token-state cache on.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.js';
import { TokenStateCache } from '../../src/mcp-validation/token-state.cache.js';
import { RevocationBus } from '../../src/revocation/revocation.bus.js';
import { createUser, startTestApp, testConfig, type TestApp } from '../support/test-app.js';

async function secondInstance(t: TestApp): Promise<{ app: NestFastifyApplication; url: string }> {
  const config = testConfig(t.databaseUrl, {}, mkdtempSync(join(tmpdir(), 'hospiai-test-b-')));
  const app = await createApp({ config, databaseUrl: t.databaseUrl, logDestination: { write: () => undefined } });
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
    b = await secondInstance(a);
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

  it('while the channel is down the cache is bypassed, and it recovers by itself', async () => {
    const bus = b.app.get(RevocationBus);
    const tok = await newToken();
    expect((await validate(b.url, tok.token)).status).toBe(200);
    // Cut B's listening connection from the database side.
    await a.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hospiai-revocations' AND datname = current_database()`);
    for (let i = 0; i < 50 && bus.healthy; i++) await new Promise((r) => setTimeout(r, 20));
    // Revoke with plain SQL (no notification at all): only a database read can see it.
    await a.db.query(`UPDATE api_tokens SET revoked_at = now() WHERE id = $1`, [tok.id]);
    if (!bus.healthy) expect((await validate(b.url, tok.token)).body.code).toBe('token_revoked');
    for (let i = 0; i < 200 && !bus.healthy; i++) await new Promise((r) => setTimeout(r, 25));
    expect(bus.healthy).toBe(true);
    expect((await validate(b.url, tok.token)).body.code).toBe('token_revoked');
  });
});
