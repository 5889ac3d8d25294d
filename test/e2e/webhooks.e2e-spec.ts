// Webhooks: admins register endpoints; token and policy changes (from the audit log) and expiry
// reminders are delivered to a real HTTP server on loopback, signed by the Standard Webhooks
// convention and checked with the `standardwebhooks` library's own Webhook.verify; a failed
// delivery is tried again; reminders are driven by a fake clock.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import { WebhookClock } from '../../src/webhooks/webhook-clock.js';
import { WebhookDispatcher } from '../../src/webhooks/webhook-dispatcher.service.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

const DAY = 86_400_000;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** A webhook receiver on 127.0.0.1: records every request; answers 500 to the next `failNext` ones, 204 otherwise. */
async function startReceiver(): Promise<{ server: Server; url: string; received: Received[]; failNext: { n: number } }> {
  const received: Received[] = [];
  const failNext = { n: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answered = failNext.n > 0 ? 500 : 204;
      if (failNext.n > 0) failNext.n -= 1;
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
      res.statusCode = answered;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/hooks`, received, failNext };
}

interface Payload {
  type: string;
  timestamp: string;
  data: Record<string, any>;
}

describe('webhooks', () => {
  let t: TestApp;
  let admin: User;
  let user: User;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let dispatcher: WebhookDispatcher;
  let clock: WebhookClock;
  let endpoint: { id: string; secret: string };
  let fakeNow: number | undefined;

  /** The requests received so far, each verified with the endpoint's secret by the standardwebhooks library. */
  const verified = (secret = endpoint.secret): { id: string; payload: Payload; answered: number }[] =>
    receiver.received.map((r) => ({
      id: String(r.headers['webhook-id']),
      payload: new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as Payload,
      answered: r.answered,
    }));

  const createToken = async (durationDays = 30, owner = user) => {
    const r = await t.request('POST', '/api/tokens', {
      token: owner.token,
      body: { name: 'Serveur FastMCP test', scopes: ['read:data'], durationDays },
    });
    expect(r.status).toBe(201);
    return r.body as { id: string; token: string; expiresAt: string };
  };

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTestApp({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_DISPATCH_INTERVAL_SECONDS: '0' });
    dispatcher = t.app.get(WebhookDispatcher);
    clock = t.app.get(WebhookClock);
    clock.now = () => new Date(fakeNow ?? Date.now());
    admin = await createUser(t, { role: 'admin' });
    user = await createUser(t);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => receiver?.server.close(resolve));
  });

  beforeEach(() => {
    receiver.received.length = 0;
    receiver.failNext.n = 0;
  });

  it('only admins register endpoints; the secret is in the creation answer only, never in the audit log or the logs', async () => {
    const body = { url: receiver.url, eventTypes: ['token.created', 'token.revoked', 'token.expiring', 'token.expired', 'policy.changed'] };
    expect((await t.request('POST', '/api/admin/webhooks', { token: user.token, body })).status).toBe(403);
    const r = await t.request('POST', '/api/admin/webhooks', { token: admin.token, body: { ...body, description: 'Récepteur de test' } });
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe(`/api/admin/webhooks/${r.body.id}`);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.body).toMatchObject({ url: receiver.url, eventTypes: body.eventTypes, enabled: true, description: 'Récepteur de test' });
    expect(r.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    endpoint = { id: r.body.id, secret: r.body.secret };

    const list = await t.request('GET', '/api/admin/webhooks', { token: admin.token });
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([expect.objectContaining({ id: endpoint.id, url: receiver.url })]);
    expect(list.text).not.toContain(endpoint.secret);
    const one = await t.request('GET', `/api/admin/webhooks/${endpoint.id}`, { token: admin.token });
    expect(one.status).toBe(200);
    expect(one.body).not.toHaveProperty('secret');

    const { rows } = await t.db.query(`SELECT "details", "actor_user_id" FROM "audit_event" WHERE "type" = 'webhook.create'`);
    expect(rows).toEqual([
      { actor_user_id: admin.id, details: expect.objectContaining({ webhookId: endpoint.id, urlOrigin: new URL(receiver.url).origin }) },
    ]);
    expect(JSON.stringify(rows)).not.toContain(endpoint.secret.slice(6));
    expect(t.logs.join('\n')).not.toContain(endpoint.secret.slice(6));
  });

  it('a given secret is kept as given; a malformed one or an unknown event type is a 400', async () => {
    const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    const r = await t.request('POST', '/api/admin/webhooks', {
      token: admin.token,
      body: { url: receiver.url, eventTypes: ['policy.changed'], secret, enabled: false },
    });
    expect(r.status).toBe(201);
    expect(r.body.secret).toBe(secret);
    const bad = await t.request('POST', '/api/admin/webhooks', {
      token: admin.token,
      body: { url: receiver.url, eventTypes: ['token.created'], secret: 'short' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toEqual([{ field: 'secret', message: 'secret must be whsec_ followed by 24 to 64 bytes in base64' }]);
    const tooShort = await t.request('POST', '/api/admin/webhooks', {
      token: admin.token,
      body: { url: receiver.url, eventTypes: ['token.created'], secret: `whsec_${Buffer.alloc(23, 1).toString('base64')}` },
    });
    expect(tooShort.status).toBe(400);
    expect(tooShort.body.fields).toEqual([{ field: 'secret', message: 'secret must be whsec_ followed by 24 to 64 bytes in base64' }]);
    const unknown = await t.request('POST', '/api/admin/webhooks', {
      token: admin.token,
      body: { url: receiver.url, eventTypes: ['token.validated'] },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.fields[0].field).toBe('eventTypes');
    const creds = await t.request('POST', '/api/admin/webhooks', {
      token: admin.token,
      body: { url: 'http://a:b@127.0.0.1/x', eventTypes: ['token.created'] },
    });
    expect(creds.status).toBe(400);
    expect(creds.body.fields).toEqual([{ field: 'url', message: "l'URL ne doit pas contenir d'identifiants" }]);
    expect((await t.request('DELETE', `/api/admin/webhooks/${r.body.id}`, { token: admin.token })).status).toBe(204);
  });

  it('token.created and token.revoked reach the receiver, signed (Webhook.verify), without the token text', async () => {
    const token = await createToken();
    expect((await t.request('DELETE', `/api/tokens/${token.id}`, { token: user.token })).status).toBe(204);
    await dispatcher.runOnce();
    const got = verified();
    expect(got.map((g) => g.payload.type)).toEqual(['token.created', 'token.revoked']);
    for (const g of got) {
      expect(g.payload.data).toMatchObject({
        tokenId: token.id,
        name: 'Serveur FastMCP test',
        scopes: ['read:data'],
        ownerId: user.id,
        expiresAt: token.expiresAt,
      });
      expect(g.id).toMatch(/^evt_a\d+$/);
    }
    expect(got[1].payload.data).toMatchObject({ revokedReason: 'revoked', actorUserId: user.id });
    const raw = receiver.received.map((r) => r.body).join('\n');
    expect(raw).not.toContain(token.token);
    expect(raw).not.toContain(token.token.split('.')[2]);
    // Tampered with, the signature no longer verifies.
    const first = receiver.received[0];
    expect(() =>
      new Webhook(endpoint.secret).verify(first.body.replace('token.created', 'token.revoked'), first.headers as Record<string, string>),
    ).toThrow();
    // A second pass sends nothing again.
    await dispatcher.runOnce();
    expect(receiver.received).toHaveLength(2);
  });

  it('a rotation is a token.revoked (the old token) and a token.created (the new one)', async () => {
    const token = await createToken();
    await dispatcher.runOnce();
    receiver.received.length = 0;
    const r = await t.request('POST', `/api/tokens/${token.id}/rotate`, { token: user.token, body: {} });
    expect(r.status).toBe(201);
    await dispatcher.runOnce();
    const got = verified().map((g) => [g.payload.type, g.payload.data.tokenId, g.payload.data.revokedReason ?? null]);
    expect(got).toEqual([
      ['token.revoked', token.id, 'rotated'],
      ['token.created', r.body.id, null],
    ]);
  });

  it('a policy.change audit event becomes policy.changed', async () => {
    await t.app.get(AuditWriter).record({
      type: 'policy.change' as never,
      outcome: 'success',
      actorUserId: admin.id,
      details: { changed: ['maxLifetimeDays'], maxLifetimeDays: 90 },
    });
    await dispatcher.runOnce();
    const got = verified();
    expect(got).toHaveLength(1);
    expect(got[0].payload).toMatchObject({
      type: 'policy.changed',
      data: { actorUserId: admin.id, changed: ['maxLifetimeDays'], maxLifetimeDays: 90 },
    });
  });

  it('a delivery the receiver refuses is tried again later, with the same webhook-id, and the log shows both attempts', async () => {
    receiver.failNext.n = 1;
    const token = await createToken();
    await dispatcher.runOnce();
    expect(receiver.received.map((r) => r.answered)).toEqual([500]);
    const log1 = await t.request('GET', `/api/admin/webhooks/${endpoint.id}/deliveries?limit=1`, { token: admin.token });
    expect(log1.status).toBe(200);
    expect(log1.body.items).toEqual([
      expect.objectContaining({
        eventType: 'token.created',
        status: 'pending',
        attempts: 1,
        lastStatusCode: 500,
        lastError: 'HTTP 500',
        deliveredAt: null,
      }),
    ]);
    const retryAt = Date.parse(log1.body.items[0].nextAttemptAt);
    const firstAt = Date.parse(log1.body.items[0].lastAttemptAt);
    // 30 s ± 20 % after the first attempt.
    expect(retryAt - firstAt).toBeGreaterThanOrEqual(24_000);
    expect(retryAt - firstAt).toBeLessThanOrEqual(36_000);

    // Not due yet: nothing is sent.
    await dispatcher.runOnce();
    expect(receiver.received).toHaveLength(1);
    fakeNow = retryAt + 1000;
    try {
      await dispatcher.runOnce();
    } finally {
      fakeNow = undefined;
    }
    const got = verified();
    expect(got.map((g) => g.answered)).toEqual([500, 204]);
    expect(got[1].id).toBe(got[0].id);
    expect(got[1].payload.data.tokenId).toBe(token.id);
    const log2 = await t.request('GET', `/api/admin/webhooks/${endpoint.id}/deliveries?limit=1`, { token: admin.token });
    expect(log2.body.items[0]).toMatchObject({
      eventId: got[0].id,
      status: 'delivered',
      attempts: 2,
      lastStatusCode: 204,
      lastError: null,
      nextAttemptAt: null,
    });
    expect((await t.request('GET', `/api/admin/webhooks/${endpoint.id}/deliveries`, { token: user.token })).status).toBe(403);
  });

  it('reminders with a fake clock: 7 days before, 1 day before and at expiry, each once', async () => {
    const token = await createToken(30);
    await dispatcher.runOnce();
    receiver.received.length = 0;
    const expiresAt = Date.parse(token.expiresAt);
    const mine = () => verified().filter((g) => g.payload.data.tokenId === token.id);
    const at = async (ms: number) => {
      fakeNow = ms;
      try {
        await dispatcher.runOnce();
      } finally {
        fakeNow = undefined;
      }
    };

    await at(expiresAt - 8 * DAY);
    expect(mine()).toEqual([]);
    await at(expiresAt - 7 * DAY + 60_000);
    await at(expiresAt - 6 * DAY);
    expect(mine().map((g) => [g.payload.type, g.payload.data.daysBefore])).toEqual([['token.expiring', 7]]);
    expect(mine()[0].payload.data).toMatchObject({
      name: 'Serveur FastMCP test',
      ownerId: user.id,
      expiresAt: token.expiresAt,
      daysLeft: 7,
    });
    await at(expiresAt - DAY + 60_000);
    await at(expiresAt - DAY / 2);
    expect(mine().map((g) => [g.payload.type, g.payload.data.daysBefore])).toEqual([
      ['token.expiring', 7],
      ['token.expiring', 1],
    ]);
    await at(expiresAt + 60_000);
    await at(expiresAt + 2 * DAY);
    expect(mine().map((g) => g.payload.type)).toEqual(['token.expiring', 'token.expiring', 'token.expired']);
    expect(new Set(mine().map((g) => g.id)).size).toBe(3);
  });

  it('a revoked token gets no reminder', async () => {
    const token = await createToken(3);
    expect((await t.request('DELETE', `/api/tokens/${token.id}`, { token: user.token })).status).toBe(204);
    fakeNow = Date.parse(token.expiresAt) + 60_000;
    try {
      await dispatcher.runOnce();
    } finally {
      fakeNow = undefined;
    }
    expect(
      verified()
        .filter((g) => g.payload.data.tokenId === token.id)
        .map((g) => g.payload.type),
    ).toEqual(['token.created', 'token.revoked']);
  });

  it('two dispatch passes at once send each event once', async () => {
    const a = await createToken();
    const b = await createToken();
    await Promise.all([dispatcher.runOnce(), dispatcher.runOnce(), dispatcher.runOnce(false)]);
    const ids = verified().map((g) => g.id);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    expect(
      verified()
        .map((g) => g.payload.data.tokenId)
        .sort(),
    ).toEqual([a.id, b.id].sort());
  });

  it('a disabled endpoint receives nothing; changes and deletion are audited; a deleted endpoint is 404', async () => {
    const off = await t.request('PATCH', `/api/admin/webhooks/${endpoint.id}`, { token: admin.token, body: { enabled: false } });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ id: endpoint.id, enabled: false });
    expect(off.body).not.toHaveProperty('secret');
    await createToken();
    await dispatcher.runOnce();
    expect(receiver.received).toEqual([]);
    expect((await t.request('PATCH', `/api/admin/webhooks/${endpoint.id}`, { token: user.token, body: { enabled: true } })).status).toBe(
      403,
    );
    expect((await t.request('DELETE', `/api/admin/webhooks/${endpoint.id}`, { token: admin.token })).status).toBe(204);
    expect((await t.request('GET', `/api/admin/webhooks/${endpoint.id}`, { token: admin.token })).status).toBe(404);
    expect((await t.request('GET', `/api/admin/webhooks/${endpoint.id}/deliveries`, { token: admin.token })).status).toBe(404);
    expect((await t.request('DELETE', `/api/admin/webhooks/${endpoint.id}`, { token: admin.token })).status).toBe(404);
    const { rows } = await t.db.query(
      `SELECT "type", "details"->'changed' AS changed FROM "audit_event" WHERE "type" IN ('webhook.update', 'webhook.delete') ORDER BY "id"`,
    );
    expect(rows.slice(-2)).toEqual([
      { type: 'webhook.update', changed: ['enabled'] },
      { type: 'webhook.delete', changed: null },
    ]);
  });
});
