// GET /api/mcp/revocations: revocations as Server-Sent Events for registered
// MCP servers: token ids only, resumable with Last-Event-ID, across instances
// (LISTEN/NOTIFY), keep-alive comments, closed cleanly on shutdown.
import { RevocationStreamService } from '../../src/mcp-clients/revocation-stream.service.js';
import { basic, createToken, idsOf, registerClient, revoked, SseReader, type RegisteredClient } from '../support/mcp.js';
import { createUser, startTestApp, startTestAppOn, type TestApp, type User } from '../support/test-app.js';
import { HANG_GUARD_MS, until } from '../support/until.js';


describe('GET /api/mcp/revocations', () => {
  let t: TestApp;
  let admin: User;
  let user: User;
  let client: RegisteredClient;
  const readers: SseReader[] = [];

  async function follow(app: TestApp = t, headers: Record<string, string> = {}): Promise<SseReader> {
    const reader = await SseReader.open(`${app.baseUrl}/api/mcp/revocations`, { authorization: basic(client.clientId, client.clientSecret), ...headers });
    readers.push(reader);
    return reader;
  }

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
    user = await createUser(t);
    client = await registerClient(t, admin.token);
  });
  afterEach(() => {
    for (const r of readers.splice(0)) r.close();
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses missing, wrong or revoked client credentials with 401 and a Basic challenge', async () => {
    const c = await registerClient(t, admin.token, 'bientôt révoqué');
    for (const authorization of [undefined, basic(c.clientId, 'mcps_wrong'), basic('mcp_nobody', c.clientSecret), `Bearer ${user.token}`]) {
      const res = await fetch(`${t.baseUrl}/api/mcp/revocations`, { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="hospiai"/);
      expect(await res.json()).toMatchObject({ error: 'Client authentication failed', code: 'invalid_client' });
    }
    await t.request('DELETE', `/api/mcp/clients/${c.id}`, { token: admin.token });
    const res = await fetch(`${t.baseUrl}/api/mcp/revocations`, { headers: { authorization: basic(c.clientId, c.clientSecret) } });
    expect(res.status).toBe(401);
    const bad = await fetch(`${t.baseUrl}/api/mcp/revocations`, { headers: { authorization: basic(client.clientId, client.clientSecret), 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
  });

  it('streams text/event-stream: ready, then each revocation as token ids', async () => {
    const r = await follow();
    expect(r.response.status).toBe(200);
    expect(r.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(r.response.headers.get('cache-control')).toBe('no-store');
    const [ready] = await r.until((ev) => ev.some((e) => e.event === 'ready'));
    expect(ready.id).toMatch(/^\d+$/);

    const tok = await createToken(t, user.token);
    expect((await t.request('DELETE', `/api/tokens/${tok.id}`, { token: user.token })).status).toBe(204);
    const events = await r.until((ev) => revoked(ev).length >= 1);
    const e = revoked(events)[0];
    expect(idsOf(e)).toEqual([tok.id]);
    expect(BigInt(e.id!)).toBeGreaterThan(BigInt(ready.id!));
    expect(e.data).not.toContain(tok.token);

    // Rotation revokes the old token.
    const rot = await createToken(t, user.token);
    const rotated = await t.request('POST', `/api/tokens/${rot.id}/rotate`, { token: user.token, body: {} });
    expect(rotated.status).toBe(201);
    await r.until((ev) => revoked(ev).some((x) => idsOf(x).includes(rot.id)));
    expect(revoked(r.events).some((x) => idsOf(x).includes(rotated.body.id))).toBe(false);
  });

  it("sends a user's revocation (owner disabled) as the ids of that user's tokens, never the user id", async () => {
    const owner = await createUser(t);
    const a = await createToken(t, owner.token);
    const b = await createToken(t, owner.token, ['write:bookings']);
    const r = await follow();
    await r.until((ev) => ev.some((e) => e.event === 'ready'));
    expect((await t.request('PATCH', `/api/users/${owner.id}`, { token: admin.token, body: { disabled: true } })).status).toBe(200);
    const [e] = revoked(await r.until((ev) => revoked(ev).length >= 1));
    expect(idsOf(e).sort()).toEqual([a.id, b.id].sort());
    expect(e.data).not.toContain(owner.id);
  });

  it('resumes after Last-Event-ID: what happened while disconnected is replayed, in order, once', async () => {
    const r1 = await follow();
    const [ready] = await r1.until((ev) => ev.some((e) => e.event === 'ready'));
    r1.close();
    const missed = [];
    for (let i = 0; i < 3; i++) {
      const tok = await createToken(t, user.token);
      await t.request('DELETE', `/api/tokens/${tok.id}`, { token: user.token });
      missed.push(tok.id);
    }
    const r2 = await follow(t, { 'last-event-id': ready.id! });
    const events = await r2.until((ev) => ev.some((e) => e.event === 'ready'));
    const replayed = revoked(events);
    expect(replayed.flatMap(idsOf)).toEqual(missed);
    const ids = replayed.map((e) => BigInt(e.id!));
    expect([...ids].sort((x, y) => (x < y ? -1 : 1))).toEqual(ids);
    const readyAfter = events.find((e) => e.event === 'ready')!;
    expect(readyAfter.id).toBe(replayed[replayed.length - 1].id);

    // Nothing is replayed when resuming from the latest id; a later revocation still comes live.
    const r3 = await follow(t, { 'last-event-id': readyAfter.id! });
    await r3.until((ev) => ev.some((e) => e.event === 'ready'));
    expect(revoked(r3.events)).toEqual([]);
    const later = await createToken(t, user.token);
    await t.request('DELETE', `/api/tokens/${later.id}`, { token: user.token });
    expect(revoked(await r3.until((ev) => revoked(ev).length === 1)).flatMap(idsOf)).toEqual([later.id]);
  });

  it('tells a client resuming from an id the service never issued to drop its cache', async () => {
    const r = await follow(t, { 'last-event-id': '999999999' });
    const events = await r.until((ev) => ev.some((e) => e.event === 'ready'));
    expect(events[0].event).toBe('reset');
  });

  it('sends keep-alive comments', async () => {
    const service = t.app.get(RevocationStreamService);
    // The earlier tests' streams gone (closed by the client, forgotten by the server once it sees
    // the connection close): the keep-alive timer starts again, at the new interval, with the next stream.
    await until('the earlier streams are forgotten', () => service.openStreams === 0);
    const before = service.keepAliveMs;
    service.keepAliveMs = 100;
    try {
      const r = await follow();
      await r.until(() => r.comments >= 2, 3000);
    } finally {
      service.keepAliveMs = before;
    }
  });

  it('closes the streams of a client when it is revoked, and forgets streams whose client went away', async () => {
    const service = t.app.get(RevocationStreamService);
    const c = await registerClient(t, admin.token, 'révoqué en cours de flux');
    const r = await SseReader.open(`${t.baseUrl}/api/mcp/revocations`, { authorization: basic(c.clientId, c.clientSecret) });
    readers.push(r);
    await r.until((ev) => ev.some((e) => e.event === 'ready'));
    const open = service.openStreams;
    expect((await t.request('DELETE', `/api/mcp/clients/${c.id}`, { token: admin.token })).status).toBe(204);
    await r.closedByServer();
    expect(service.openStreams).toBe(open - 1);

    const r2 = await follow();
    await r2.until((ev) => ev.some((e) => e.event === 'ready'));
    const withIt = service.openStreams;
    r2.close();
    await until('the server noticed the client went', () => service.openStreams < withIt);
    expect(service.openStreams).toBe(withIt - 1);
  });

  // No bound on how soon: that is a benchmark's figure (npm run bench with 2 instances measures the
  // delay from a revocation's answer on one instance to its effect on the other); the waits here
  // are hang guards only.
  it('carries revocations made on another instance (LISTEN/NOTIFY), and ends cleanly when that instance shuts down', async () => {
    const b = await startTestAppOn(t.databaseUrl);
    let closed = false;
    try {
      const onB = await follow(b);
      await onB.until((ev) => ev.some((e) => e.event === 'ready'), HANG_GUARD_MS);
      const tok = await createToken(t, user.token);
      expect((await t.request('DELETE', `/api/tokens/${tok.id}`, { token: user.token })).status).toBe(204);
      const events = await onB.until((ev) => revoked(ev).some((e) => idsOf(e).includes(tok.id)), HANG_GUARD_MS);
      expect(revoked(events).map(idsOf)).toEqual([[tok.id]]);

      expect(onB.ended).toBe(false);
      await b.close();
      closed = true;
      // Ended by B itself, cleanly (the response's last chunk), not reset nor left open.
      await onB.closedByServer(HANG_GUARD_MS);
      expect(onB.endedBy).toBe('server');
    } finally {
      if (!closed) await b.close();
    }
  });
});
