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
import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

jest.setTimeout(60_000);

describe.each(EXAMPLES)('example %s', (name) => {
  let t: TestApp;
  let example: RunningChild;
  let user: Awaited<ReturnType<typeof createUser>>;
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
    });
    // The example follows the revocation stream.
    for (let i = 0; i < 200 && streams.openStreams < 1; i++) await new Promise((r) => setTimeout(r, 25));
    expect(streams.openStreams).toBe(1);
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

  it('refuses a token revoked through the API within 1 s, though it answered from its cache until then', async () => {
    const tok = await createToken(t, user.token, ['read:data']);
    const client = await connect(tok.token);
    for (let i = 0; i < 5; i++) expect((await tryCall(client, 'get_patient', { patientId: 'P-1001' })).ok).toBe(true);
    // The cache is on: six requests or more (initialize, notifications, calls), one validation.
    const validations = (await storedEvents(t)).filter((e) => e.type === 'token.validate' && e.tokenId === tok.id);
    expect(validations).toHaveLength(1);

    expect((await t.request('DELETE', `/api/tokens/${tok.id}`, { token: user.token })).status).toBe(204);
    const revokedAt = Date.now();
    let last = { ok: true, text: '' };
    while (last.ok && Date.now() - revokedAt < 1000) {
      last = await tryCall(client, 'get_patient', { patientId: 'P-1001' });
      if (last.ok) await new Promise((r) => setTimeout(r, 10));
    }
    expect(last.ok).toBe(false);
    expect(last.text).toMatch(/révoqué|revoked/);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
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
    expect((await t.request('PATCH', `/api/users/${owner.id}`, { token: admin.token, body: { disabled: true } })).status).toBe(200);
    const started = Date.now();
    let refused = false;
    while (!refused && Date.now() - started < 1000) {
      refused = !(await tryCall(client, 'get_patient', { patientId: 'P-1001' })).ok;
      if (!refused) await new Promise((r) => setTimeout(r, 10));
    }
    expect(refused).toBe(true);
  });
});
