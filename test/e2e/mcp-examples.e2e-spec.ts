// The two TypeScript examples (examples/fastmcp-ts, examples/mcp-sdk), run as
// child processes against the real service, driven by the MCP SDK's client
// over Streamable HTTP: 401 without a token, tools by scope, and a token
// revoked through the API refused by the very next calls although the
// examples cache validations (they follow the revocation stream).
import { jest } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { RevocationStreamService } from '../../src/mcp-clients/revocation-stream.service.js';
import { storedEvents } from '../support/audit.js';
import { connectClient, EXAMPLES, startExampleProcess, tryCall, type RunningChild } from '../support/examples.js';
import { createToken, registerClient } from '../support/mcp.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

jest.setTimeout(60_000);

/** The examples' cache lifetime in these tests: an hour, so that only the revocation stream drops an answer. */
const CACHE_TTL_MS = 3_600_000;
/** A hang guard only: how long a revoked token may go on being accepted before the test gives up. */
const HANG_GUARD_MS = 20_000;

describe.each(EXAMPLES)('example %s', (name) => {
  let t: TestApp;
  let example: RunningChild;
  let user: User;
  let otherResource: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    const admin = await createUser(t, { role: 'admin' });
    user = await createUser(t);
    const mcpClient = await registerClient(t, admin.token, `exemple ${name}`);
    const streams = t.app.get(RevocationStreamService);
    example = await startExampleProcess(name, {
      HOSPIAI_VALIDATION_URL: `${t.baseUrl}/api/mcp/validate`,
      HOSPIAI_CLIENT_ID: mcpClient.clientId,
      HOSPIAI_CLIENT_SECRET: mcpClient.clientSecret,
      // Longer than any test here: an answer leaves the example's cache only by the revocation stream.
      HOSPIAI_CACHE_TTL_MS: String(CACHE_TTL_MS),
    });
    // The example follows the revocation stream.
    for (let i = 0; i < 200 && streams.openStreams < 1; i++) await new Promise((r) => setTimeout(r, 25));
    expect(streams.openStreams).toBe(1);
    // The example is a protected resource: its URL (its default HOSPIAI_RESOURCE) is its registered resource URI.
    const patched = await t.request('PATCH', `/api/mcp/clients/${mcpClient.id}`, { token: admin.token, body: { resourceUri: example.url } });
    expect([patched.status, patched.body.resourceUri]).toEqual([200, example.url]);
    otherResource = `https://autre-${name}.chu-exemple.fr/mcp`;
    await registerClient(t, admin.token, `autre serveur ${name}`, { resourceUri: otherResource });
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await example?.stop();
    await t?.close();
  });

  async function connect(token?: string): Promise<Client> {
    const c = await connectClient(example.url, token);
    clients.push(c);
    return c;
  }

  /** The HTTP status with which the SDK client's connection is refused. */
  async function refusal(token?: string): Promise<number | undefined> {
    try {
      await connect(token);
    } catch (error) {
      return (error as { code?: number }).code;
    }
    throw new Error('the client connected');
  }

  /**
   * Calls get_patient until a call is refused and returns that refusal. The example learns of a
   * revocation through the stream, asynchronously: no bound is put on how soon (that is
   * `npm run bench:mcp`'s revocation delay), only a hang guard far beyond it.
   */
  async function firstRefusal(client: Client): Promise<{ ok: boolean; text: string; accepted: number }> {
    const deadline = Date.now() + HANG_GUARD_MS;
    for (let accepted = 0; ; accepted++) {
      const call = await tryCall(client, 'get_patient', { patientId: 'P-1001' });
      if (!call.ok) return { ...call, accepted };
      if (Date.now() > deadline) throw new Error(`still accepted after ${accepted + 1} calls (hang guard)`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** The validations of a token the service audited, in order. */
  async function validationsOf(tokenId: string): Promise<string[]> {
    return (await storedEvents(t)).filter((e) => e.type === 'token.validate' && e.tokenId === tokenId).map((e) => e.outcome);
  }

  it('answers 401 with a Bearer challenge without a token, and the SDK client cannot connect', async () => {
    const res = await fetch(example.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await refusal()).toBe(401);
    expect(await refusal('not-a-token')).toBe(401);
  });

  describe('as a protected resource (RFC 9728)', () => {
    const metadataUrl = () => `${new URL(example.url).origin}/.well-known/oauth-protected-resource/mcp`;
    const scope = 'read:data write:bookings';
    const initialize = (authorization?: string) =>
      fetch(example.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
      });

    it('serves its Protected Resource Metadata at the path-suffixed and the bare well-known URL', async () => {
      for (const url of [metadataUrl(), `${new URL(example.url).origin}/.well-known/oauth-protected-resource`]) {
        const res = await fetch(url);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(await res.json()).toEqual({
          resource: example.url,
          authorization_servers: [new URL(t.baseUrl).origin],
          scopes_supported: ['read:data', 'write:bookings'],
          bearer_methods_supported: ['header'],
          resource_name: name === 'fastmcp-ts' ? 'HospiAI FastMCP example' : 'HospiAI MCP SDK example',
        });
      }
    });

    it('answers 401 with the exact challenges: no error without a token, invalid_token with one', async () => {
      const none = await initialize();
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadataUrl()}", scope="${scope}"`);
      const bad = await initialize('Bearer not-a-token');
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", resource_metadata="${metadataUrl()}", scope="${scope}"`);
    });

    it('accepts a token bound to it, refuses one bound to another MCP server (validate with resource), and still accepts an unbound one', async () => {
      const mine = await createToken(t, user.token, ['read:data'], 'lié ici', example.url);
      const client = await connect(mine.token);
      expect((await tryCall(client, 'get_patient', { patientId: 'P-1001' })).ok).toBe(true);

      const other = await createToken(t, user.token, ['read:data'], 'lié ailleurs', otherResource);
      const refused = await initialize(`Bearer ${other.token}`);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", resource_metadata="${metadataUrl()}", scope="${scope}"`);
      const [event] = (await storedEvents(t)).filter((e) => e.type === 'token.validate' && e.tokenId === other.id);
      expect(event).toMatchObject({ outcome: 'invalid', details: { reason: 'wrong_audience', resource: example.url } });

      const unbound = await createToken(t, user.token, ['read:data'], 'non lié');
      expect((await tryCall(await connect(unbound.token), 'get_patient', { patientId: 'P-1001' })).ok).toBe(true);
    });

    if (name === 'mcp-sdk') {
      it('answers a tool call without its scope 403 insufficient_scope naming the missing scope', async () => {
        const tok = await createToken(t, user.token, ['read:data']);
        const res = await fetch(example.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${tok.token}` },
          body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'create_booking', arguments: { patientId: 'P-1001', date: '2027-01-01' } } }),
        });
        expect(res.status).toBe(403);
        expect(res.headers.get('www-authenticate')).toBe(`Bearer error="insufficient_scope", resource_metadata="${metadataUrl()}", scope="write:bookings"`);
      });
    }
  });

  it('lets a read:data token call get_patient but not create_booking', async () => {
    const tok = await createToken(t, user.token, ['read:data']);
    const client = await connect(tok.token);
    const tools = (await client.listTools()).tools.map((x) => x.name);
    expect(tools).toContain('get_patient');
    expect(tools).not.toContain('create_booking');

    const patient = await tryCall(client, 'get_patient', { patientId: 'P-1001' });
    expect(patient.ok).toBe(true);
    expect(JSON.parse(patient.text)).toMatchObject({ patientId: 'P-1001', name: 'Jeanne Dupont', consultedBy: user.email });

    const booking = await tryCall(client, 'create_booking', { patientId: 'P-1001', date: '2026-12-01' });
    expect(booking.ok).toBe(false);
  });

  it('lets a write:bookings token create a booking', async () => {
    const tok = await createToken(t, user.token, ['read:data', 'write:bookings']);
    const client = await connect(tok.token);
    const booking = await tryCall(client, 'create_booking', { patientId: 'P-1002', date: '2026-12-01' });
    expect(booking.ok).toBe(true);
    expect(JSON.parse(booking.text)).toMatchObject({ patientId: 'P-1002', date: '2026-12-01', createdBy: user.id });
  });

  it('refuses a token revoked through the API once the revocation stream tells it, though it answered from its cache until then', async () => {
    const tok = await createToken(t, user.token, ['read:data']);
    const client = await connect(tok.token);
    for (let i = 0; i < 5; i++) expect((await tryCall(client, 'get_patient', { patientId: 'P-1001' })).ok).toBe(true);
    // The cache is on: six requests or more (initialize, notifications, calls), one validation.
    expect(await validationsOf(tok.id)).toEqual(['valid']);

    expect((await t.request('DELETE', `/api/tokens/${tok.id}`, { token: user.token })).status).toBe(204);
    const refused = await firstRefusal(client);
    expect(refused.text).toMatch(/révoqué|revoked/);
    // Refused because the stream dropped the cached answer (its lifetime is an hour): the example asked the service again.
    expect((await validationsOf(tok.id)).join(' ')).toMatch(/^valid( revoked)+$/);
    // And it stays refused, and a new connection with it fails.
    expect((await tryCall(client, 'get_patient', { patientId: 'P-1001' })).ok).toBe(false);
    expect(await refusal(tok.token)).toBe(401);
  });

  it("refuses every token of a user disabled by an admin, through the same stream", async () => {
    const admin = await createUser(t, { role: 'admin' });
    const owner = await createUser(t);
    const tok = await createToken(t, owner.token, ['read:data']);
    const client = await connect(tok.token);
    expect((await tryCall(client, 'get_patient', { patientId: 'P-1001' })).ok).toBe(true);
    expect((await tryCall(client, 'get_patient', { patientId: 'P-1001' })).ok).toBe(true);
    expect(await validationsOf(tok.id)).toEqual(['valid']);
    expect((await t.request('PATCH', `/api/users/${owner.id}`, { token: admin.token, body: { disabled: true } })).status).toBe(200);
    await firstRefusal(client);
    expect((await validationsOf(tok.id)).join(' ')).toMatch(/^valid( revoked)+$/);
  });
});
