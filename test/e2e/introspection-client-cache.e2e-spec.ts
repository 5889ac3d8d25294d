// Verified MCP client credentials are cached (introspection does not read mcp_client on every
// call) and dropped on every instance the moment the client is revoked: two apps on one database.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.js';
import { VerifiedClientsCache } from '../../src/mcp-clients/verified-clients.cache.js';
import { RevocationBus } from '../../src/revocation/revocation.bus.js';
import { basic, createToken, registerClient, type RegisteredClient } from '../support/mcp.js';
import { createUser, startTestApp, testConfig, type TestApp, type User } from '../support/test-app.js';

async function secondInstance(databaseUrl: string): Promise<{ app: NestFastifyApplication; url: string }> {
  const config = testConfig(databaseUrl, {}, mkdtempSync(join(tmpdir(), 'hospiai-test-b-')));
  const app = await createApp({ config, databaseUrl, logDestination: { write: () => undefined } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  return { app, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

async function introspect(
  baseUrl: string,
  c: RegisteredClient,
  token: string,
  secret = c.clientSecret,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${baseUrl}/api/oauth/introspect`, {
    method: 'POST',
    headers: { authorization: basic(c.clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  return { status: res.status, body: await res.json() };
}

describe('cached MCP client credentials', () => {
  let a: TestApp;
  let b: { app: NestFastifyApplication; url: string };
  let admin: User;
  let user: User;

  beforeAll(async () => {
    a = await startTestApp();
    b = await secondInstance(a.databaseUrl);
    admin = await createUser(a, { role: 'admin' });
    user = await createUser(a);
  });
  afterAll(async () => {
    await b.app.close();
    await a.close();
  });

  it('both instances listen on the revocation channel', () => {
    expect(a.app.get(RevocationBus).healthy).toBe(true);
    expect(b.app.get(RevocationBus).healthy).toBe(true);
  });

  it('answers from the cache without reading mcp_client again', async () => {
    const client = await registerClient(a, admin.token, 'Serveur cache');
    const tok = await createToken(a, user.token);
    expect((await introspect(b.url, client, tok.token)).body.active).toBe(true);
    // The client's row renamed behind the service's back: a cached entry still names it as verified.
    await a.db.query(`UPDATE mcp_client SET name = 'renommé' WHERE id = $1`, [client.id]);
    expect((await introspect(b.url, client, tok.token)).body.active).toBe(true);
    const events = await a.db.query(
      `SELECT details->>'clientName' AS name FROM audit_event WHERE type = 'token.introspect' AND details->>'clientId' = $1 ORDER BY id`,
      [client.clientId],
    );
    expect(events.rows.map((r) => r.name)).toEqual(['Serveur cache', 'Serveur cache']);
  });

  it('refuses a wrong secret for a client whose right one is cached', async () => {
    const client = await registerClient(a, admin.token);
    const tok = await createToken(a, user.token);
    expect((await introspect(b.url, client, tok.token)).status).toBe(200);
    const wrong = await introspect(b.url, client, tok.token, `${client.clientSecret.slice(0, -1)}x`);
    expect(wrong).toEqual({ status: 401, body: { error: 'invalid_client', error_description: 'Client authentication failed' } });
  });

  it('a client revoked through A is refused by the very next call on B and on A, its credentials cached on both', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const client = await registerClient(a, admin.token, `Serveur ${trial}`);
      const other = await registerClient(a, admin.token, `Autre ${trial}`);
      const tok = await createToken(a, user.token);
      for (const url of [a.baseUrl, b.url, a.baseUrl, b.url]) {
        expect((await introspect(url, client, tok.token)).body.active).toBe(true);
        expect((await introspect(url, other, tok.token)).body.active).toBe(true);
      }
      expect(b.app.get(VerifiedClientsCache).size).toBeGreaterThanOrEqual(2);

      expect((await a.request('DELETE', `/api/mcp/clients/${client.id}`, { token: admin.token })).status).toBe(204);
      for (const url of [b.url, a.baseUrl]) {
        expect((await introspect(url, client, tok.token)).status).toBe(401);
        // Another client's cached credentials still work.
        expect((await introspect(url, other, tok.token)).body.active).toBe(true);
      }
    }
  });
});
