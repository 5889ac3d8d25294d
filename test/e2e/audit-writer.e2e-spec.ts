// The audit writer (docs/api.md, "Audit"): one event per validation with the right
// fields, events for account and token changes, an append-only table and an
// unbroken hash chain, under concurrency and across two instances, and never
// a credential in an event or a log line.
import { randomUUID } from 'node:crypto';
import { eventHash, GENESIS_HASH } from '../../src/audit/audit-hash.js';
import type { AuditEvent } from '../../src/audit/audit.types.js';
import { DataSource } from 'typeorm';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import { toAuditEvent } from '../support/audit.js';
import { decodeJwt, sha256Hex, signJwt } from '../support/jwt.js';
import { UUID } from '../support/formats.js';
import {
  createUser,
  PASSWORD,
  startTestApp,
  startTestAppOnDatabase,
  TEST_JWT_SECRET,
  uniqueEmail,
  type HttpAnswer,
  type TestApp,
  type User,
} from '../support/test-app.js';

const USER_AGENT = 'FastMCP-audit-test/1.0 (+https://chu-test.fr)';
const OTHER_SECRET = 'another-secret-that-is-long-enough-0123456789abcdef';
const WRONG_PASSWORD = 'not the right password at all';
const NEW_PASSWORD = 'une phrase de passe assez longue';

interface Created {
  id: string;
  token: string;
}

/** Recomputes the chain from the genesis hash: ids 1, 2, 3… and each hash over the previous one. */
function verifyChain(events: readonly AuditEvent[]): { ok: boolean; checked: number; firstBrokenId: string | null; lastHash: string } {
  let prev = GENESIS_HASH;
  let expectedId = 1n;
  let checked = 0;
  for (const e of events) {
    const { hash, ...content } = e;
    if (BigInt(e.id) !== expectedId || eventHash(prev, content) !== hash) {
      return { ok: false, checked, firstBrokenId: e.id, lastHash: prev };
    }
    prev = hash;
    expectedId += 1n;
    checked += 1;
  }
  return { ok: true, checked, firstBrokenId: null, lastHash: prev };
}

describe('audit writer', () => {
  let t: TestApp;
  let second: TestApp;
  let user: User;
  let admin: User;
  /** Every credential this file handles: none may ever show up in an event or a log line. */
  const secrets = new Set<string>([PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, TEST_JWT_SECRET, OTHER_SECRET]);

  beforeAll(async () => {
    t = await startTestApp();
    // A second instance on the same database, for the two-writer test. Started here, once:
    // the app started last also checks the sessions of the other (one passport registry per process).
    second = await startTestAppOnDatabase(t.databaseUrl);
    user = await createUser(t, { phoneNumber: '+33 1 23 45 67 89' });
    admin = await createUser(t, { role: 'admin' });
    secrets.add(user.token).add(admin.token);
  });
  afterAll(async () => {
    await second?.close();
    await t?.close();
  });

  const maxId = async (): Promise<bigint> => BigInt((await t.db.query(`SELECT coalesce(max(id), 0) AS id FROM audit_event`)).rows[0].id);
  const eventsAfter = async (id: bigint): Promise<AuditEvent[]> =>
    (await t.db.query(`SELECT * FROM audit_event WHERE id > $1 ORDER BY id`, [id.toString()])).rows.map(toAuditEvent);
  const allEvents = async (): Promise<AuditEvent[]> => (await t.db.query(`SELECT * FROM audit_event ORDER BY id`)).rows.map(toAuditEvent);
  const chainHead = async () =>
    (await t.db.query(`SELECT last_id, last_hash FROM audit_chain_head`)).rows[0] as { last_id: string; last_hash: string };

  /** Headers a careful MCP server sends: its user agent and its own request id (kept as details.clientRequestId). */
  const ctx = (requestId: string) => ({ 'user-agent': USER_AGENT, 'x-request-id': requestId });

  async function newToken(owner: User = user, body: Record<string, unknown> = {}): Promise<Created> {
    const res = await t.request('POST', '/api/tokens', {
      token: owner.token,
      body: { name: 'Serveur FastMCP', scopes: ['read:data'], durationDays: 30, ...body },
    });
    expect(res.status).toBe(201);
    secrets.add(res.body.token);
    return res.body;
  }

  function validate(app: TestApp, requestId: string, authorization?: string, body?: unknown) {
    return app.request('POST', '/api/mcp/validate', {
      headers: { ...ctx(requestId), ...(authorization === undefined ? {} : { authorization }) },
      ...(body === undefined ? {} : { body }),
    });
  }

  /** The single event a request wrote, found by the request id its client sent (details.clientRequestId). */
  async function onlyEventOf(clientRequestId: string): Promise<AuditEvent> {
    const rows = (await t.db.query(`SELECT * FROM audit_event WHERE details->>'clientRequestId' = $1`, [clientRequestId])).rows.map(
      toAuditEvent,
    );
    expect(rows).toHaveLength(1);
    return rows[0];
  }

  /** The event carries the service's request id (the answer's X-Request-Id) and, apart, the one its client sent. */
  function expectContext(e: AuditEvent, clientRequestId: string, answer: HttpAnswer): void {
    expect(e.requestId).toMatch(UUID);
    expect(e.requestId).toBe(answer.headers.get('x-request-id'));
    expect(e.details.clientRequestId).toBe(clientRequestId);
    expect(e.ip).toBe('127.0.0.1');
    expect(e.userAgent).toBe(USER_AGENT);
    expect(new Date(e.occurredAt).toISOString()).toBe(e.occurredAt);
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
  }

  describe('token.validate', () => {
    let valid: Created;
    let expired: Created;
    let revoked: Created;

    beforeAll(async () => {
      valid = await newToken();
      expired = await newToken();
      revoked = await newToken();
      await t.db.query(
        `UPDATE api_tokens SET created_at = now() - interval '40 days', expires_at = now() - interval '10 days' WHERE id = $1`,
        [expired.id],
      );
      expect((await t.request('DELETE', `/api/tokens/${revoked.id}`, { token: user.token })).status).toBe(204);
    });

    type Case = {
      status: number;
      auth: () => string | undefined;
      body?: unknown;
      outcome: string;
      tokenId: () => string | null;
      actor: () => string | null;
      details: () => Record<string, unknown>;
    };
    const fp = (token: string) => sha256Hex(token).slice(0, 16);
    const unknownJti = randomUUID();
    const forgedUnknown = () =>
      signJwt(decodeJwt(valid.token).header, { ...decodeJwt(valid.token).payload, jti: unknownJti }, TEST_JWT_SECRET);
    const forgedOther = () => signJwt(decodeJwt(valid.token).header, decodeJwt(valid.token).payload, OTHER_SECRET);
    const cases: [string, Case][] = [
      [
        'valid',
        {
          status: 200,
          auth: () => `Bearer ${valid.token}`,
          outcome: 'valid',
          tokenId: () => valid.id,
          actor: () => user.id,
          details: () => ({ fingerprint: fp(valid.token) }),
        },
      ],
      [
        'valid with requiredScopes held',
        {
          status: 200,
          auth: () => `Bearer ${valid.token}`,
          body: { requiredScopes: ['read:data'] },
          outcome: 'valid',
          tokenId: () => valid.id,
          actor: () => user.id,
          details: () => ({ fingerprint: fp(valid.token), requiredScopes: ['read:data'] }),
        },
      ],
      [
        'invalid: no token',
        {
          status: 401,
          auth: () => undefined,
          outcome: 'invalid',
          tokenId: () => null,
          actor: () => null,
          details: () => ({ reason: 'no_token' }),
        },
      ],
      [
        'invalid: bad signature',
        {
          status: 401,
          auth: () => `Bearer ${forgedOther()}`,
          outcome: 'invalid',
          tokenId: () => null,
          actor: () => null,
          details: () => ({ reason: expect.any(String), fingerprint: fp(forgedOther()) }),
        },
      ],
      [
        'invalid: a session JWT',
        {
          status: 401,
          auth: () => `Bearer ${user.token}`,
          outcome: 'invalid',
          tokenId: () => null,
          actor: () => null,
          details: () => ({ reason: expect.any(String), fingerprint: fp(user.token) }),
        },
      ],
      [
        'invalid: malformed body',
        {
          status: 400,
          auth: () => `Bearer ${valid.token}`,
          body: { requiredScopes: 'read:data' },
          outcome: 'invalid',
          tokenId: () => null,
          actor: () => null,
          details: () => ({ reason: expect.any(String), fingerprint: fp(valid.token) }),
        },
      ],
      [
        'expired',
        {
          status: 401,
          auth: () => `Bearer ${expired.token}`,
          outcome: 'expired',
          tokenId: () => expired.id,
          actor: () => user.id,
          details: () => ({ reason: expect.any(String), fingerprint: fp(expired.token) }),
        },
      ],
      [
        'revoked',
        {
          status: 401,
          auth: () => `Bearer ${revoked.token}`,
          outcome: 'revoked',
          tokenId: () => revoked.id,
          actor: () => user.id,
          details: () => ({ reason: expect.any(String), fingerprint: fp(revoked.token) }),
        },
      ],
      [
        'revoked: unknown jti',
        {
          status: 401,
          auth: () => `Bearer ${forgedUnknown()}`,
          outcome: 'revoked',
          tokenId: () => unknownJti,
          actor: () => user.id,
          details: () => ({ reason: expect.any(String), fingerprint: fp(forgedUnknown()) }),
        },
      ],
      [
        'insufficient_scope',
        {
          status: 403,
          auth: () => `Bearer ${valid.token}`,
          body: { requiredScopes: ['write:data'] },
          outcome: 'insufficient_scope',
          tokenId: () => valid.id,
          actor: () => user.id,
          details: () => ({ reason: expect.any(String), requiredScopes: ['write:data'], fingerprint: fp(valid.token) }),
        },
      ],
    ];

    it.each(cases)('%s: exactly one event with its outcome, ids, ip, user agent, request id and latency', async (name, c) => {
      const requestId = `req-${name.replace(/[^a-z]+/gi, '-')}-${randomUUID().slice(0, 8)}`;
      const before = await maxId();
      const res = await validate(t, requestId, c.auth(), c.body);
      expect(res.status).toBe(c.status);
      expect(res.headers.get('x-request-id')).toMatch(UUID);
      expect(res.headers.get('x-request-id')).not.toBe(requestId);

      const events = await eventsAfter(before);
      expect(events).toHaveLength(1);
      const [e] = events;
      expect(e.id).toBe((before + 1n).toString());
      expect(e.type).toBe('token.validate');
      expect(e.outcome).toBe(c.outcome);
      expect(e.tokenId).toBe(c.tokenId());
      expect(e.actorUserId).toBe(c.actor());
      expectContext(e, requestId, res);
      expect(typeof e.latencyMs).toBe('number');
      expect(e.latencyMs).toBeGreaterThanOrEqual(0);
      expect(e.details).toEqual({ ...c.details(), clientRequestId: requestId });
    });

    it('records the generated request id when the caller sends none', async () => {
      const before = await maxId();
      const res = await t.request('POST', '/api/mcp/validate', { token: valid.token, headers: { 'user-agent': USER_AGENT } });
      expect(res.status).toBe(200);
      const generated = res.headers.get('x-request-id');
      expect(generated).toMatch(/^[0-9a-f-]{36}$/);
      const events = await eventsAfter(before);
      expect(events).toHaveLength(1);
      expect(events[0].requestId).toBe(generated);
      expect(events[0].details).not.toHaveProperty('clientRequestId');
    });

    it('drops a client request id that is not safe to store: the event has the generated id alone', async () => {
      const before = await maxId();
      const unsafe = 'x'.repeat(65);
      const res = await validate(t, unsafe, `Bearer ${valid.token}`);
      const generated = res.headers.get('x-request-id');
      expect(generated).toMatch(UUID);
      const events = await eventsAfter(before);
      expect(events).toHaveLength(1);
      expect(events[0].requestId).toBe(generated);
      expect(events[0].details).not.toHaveProperty('clientRequestId');
    });

    // A body that is not JSON reaches no handler today: the call gets Fastify's generic 400 and no event.
    it('a validation call whose body is not JSON is audited too (one invalid event)', async () => {
      const requestId = `req-broken-json-${randomUUID().slice(0, 8)}`;
      const before = await maxId();
      const res = await t.request('POST', '/api/mcp/validate', {
        token: valid.token,
        rawBody: '{"requiredScopes": ',
        headers: ctx(requestId),
      });
      expect(res.status).toBe(400);
      const events = await eventsAfter(before);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'token.validate',
        outcome: 'invalid',
        requestId: res.headers.get('x-request-id'),
        details: { clientRequestId: requestId },
      });
    });
  });

  describe('hash chain', () => {
    it('200 concurrent validations write exactly 200 events with contiguous ids, and the chain recomputes', async () => {
      const tokens = [await newToken(), await newToken(), await newToken()];
      const revoked = await newToken();
      expect((await t.request('DELETE', `/api/tokens/${revoked.id}`, { token: user.token })).status).toBe(204);
      const kinds = [
        { auth: (i: number) => `Bearer ${tokens[i % 3].token}`, body: undefined, status: 200, outcome: 'valid' },
        { auth: (i: number) => `Bearer not.a.token${i}`, body: undefined, status: 401, outcome: 'invalid' },
        { auth: () => `Bearer ${revoked.token}`, body: undefined, status: 401, outcome: 'revoked' },
        {
          auth: (i: number) => `Bearer ${tokens[i % 3].token}`,
          body: { requiredScopes: ['write:bookings'] },
          status: 403,
          outcome: 'insufficient_scope',
        },
        { auth: () => undefined, body: undefined, status: 401, outcome: 'invalid' },
      ];
      const runId = randomUUID().slice(0, 8);
      const calls = Array.from({ length: 200 }, (_, i) => ({ i, kind: kinds[i % kinds.length], requestId: `conc-${runId}-${i}` }));

      const before = await maxId();
      const answers = await Promise.all(calls.map((c) => validate(t, c.requestId, c.kind.auth(c.i), c.kind.body)));
      answers.forEach((res, i) => expect(res.status).toBe(calls[i].kind.status));

      const events = await eventsAfter(before);
      expect(events).toHaveLength(200);
      expect(events.map((e) => e.id)).toEqual(calls.map((_, i) => (before + 1n + BigInt(i)).toString()));
      expect(events.every((e) => e.type === 'token.validate')).toBe(true);
      const byRequest = new Map(events.map((e) => [e.requestId, e]));
      expect(byRequest.size).toBe(200);
      calls.forEach((c, i) => {
        const e = byRequest.get(answers[i].headers.get('x-request-id'));
        expect(e?.outcome).toBe(c.kind.outcome);
        expect(e?.details.clientRequestId).toBe(c.requestId);
      });

      const all = await allEvents();
      const check = verifyChain(all);
      expect(check).toEqual({ ok: true, checked: all.length, firstBrokenId: null, lastHash: all[all.length - 1].hash });
      const head = await chainHead();
      expect(head).toEqual({ last_id: all[all.length - 1].id, last_hash: check.lastHash });

      for (const token of tokens) {
        const view = await t.request('GET', `/api/tokens/${token.id}`, { token: user.token });
        expect(view.body.lastUsedIp).toBe('127.0.0.1');
      }
    });

    it('events of one batch with awkward values are stored exactly as given, and the chain recomputes', async () => {
      // The batch goes to PostgreSQL as array literals: quoting and escaping must keep every value.
      const awkward = ['say "hi"', 'back\\slash \\', '{braces},and,commas', 'NULL', '', ' spaced ', 'é 😀 中文', '\\"', '"{}"'];
      const before = await maxId();
      const writer = t.app.get(AuditWriter);
      await Promise.all(
        awkward.map((value, i) =>
          writer.record({
            type: 'token.validate',
            outcome: 'invalid',
            ip: i % 2 ? value.slice(0, 45) : null,
            userAgent: value,
            requestId: `awkward-${i}`,
            latencyMs: i % 3 ? i / 7 : null,
            details: { value, list: [value, null, i], [value || 'empty']: i },
          }),
        ),
      );
      const events = (await eventsAfter(before)).sort((a, b) => a.requestId!.localeCompare(b.requestId!, 'en', { numeric: true }));
      expect(events.map((e) => e.userAgent)).toEqual(awkward);
      expect(events.map((e) => e.ip)).toEqual(awkward.map((v, i) => (i % 2 ? v : null)));
      expect(events.map((e) => e.latencyMs)).toEqual(awkward.map((_, i) => (i % 3 ? Math.round((i / 7) * 1000) / 1000 : null)));
      expect(events.map((e) => e.details)).toEqual(awkward.map((value, i) => ({ value, list: [value, null, i], [value || 'empty']: i })));
      const all = await allEvents();
      expect(verifyChain(all)).toMatchObject({ ok: true, checked: all.length });
    });

    it('a value cut at its length limit inside a character is stored as cut, and the chain recomputes', async () => {
      // 😀 is two UTF-16 units: at 511 + 2, the user agent's limit (512) falls between them.
      const before = await maxId();
      const long = `${'a'.repeat(511)}😀`;
      await t.app.get(AuditWriter).record({
        type: 'token.validate',
        outcome: 'invalid',
        userAgent: long,
        requestId: 'cut-inside',
        details: { value: `${'b'.repeat(1999)}😀`, [`${'k'.repeat(99)}😀`]: 1 },
      });
      const [event] = await eventsAfter(before);
      expect(event.userAgent).toBe(`${'a'.repeat(511)}\uFFFD`);
      expect(event.details).toEqual({ value: `${'b'.repeat(1999)}\uFFFD`, [`${'k'.repeat(99)}\uFFFD`]: 1 });
      const all = await allEvents();
      expect(verifyChain(all)).toMatchObject({ ok: true, checked: all.length });
    });

    it('the recomputation finds an edited, a removed and a swapped row', async () => {
      const all = await allEvents();
      expect(all.length).toBeGreaterThan(10);
      expect(verifyChain(all).ok).toBe(true);
      const mid = Math.floor(all.length / 2);

      const edited = all.map((e, i) => (i === mid ? { ...e, outcome: e.outcome === 'valid' ? 'invalid' : 'valid' } : e));
      expect(verifyChain(edited)).toMatchObject({ ok: false, firstBrokenId: all[mid].id });

      const newDetails = all.map((e, i) => (i === mid ? { ...e, details: { ...e.details, note: 'added later' } } : e));
      expect(verifyChain(newDetails)).toMatchObject({ ok: false, firstBrokenId: all[mid].id });

      const otherIp = all.map((e, i) => (i === mid ? { ...e, ip: '10.0.0.66' } : e));
      expect(verifyChain(otherIp)).toMatchObject({ ok: false, firstBrokenId: all[mid].id });

      const removed = all.filter((_, i) => i !== mid);
      expect(verifyChain(removed)).toMatchObject({ ok: false, firstBrokenId: all[mid + 1].id });

      // Renumbering after a removal does not help either: the next hash covered the removed row.
      const renumbered = removed.map((e, i) => (i >= mid ? { ...e, id: String(i + 1) } : e));
      expect(verifyChain(renumbered)).toMatchObject({ ok: false, firstBrokenId: String(mid + 1) });

      const swapped = [...all];
      [swapped[mid], swapped[mid + 1]] = [swapped[mid + 1], swapped[mid]];
      expect(verifyChain(swapped)).toMatchObject({ ok: false, firstBrokenId: all[mid + 1].id });

      const truncatedTail = all.slice(0, -1);
      expect(verifyChain(truncatedTail).lastHash).not.toBe((await chainHead()).last_hash);
    });

    it('the database refuses UPDATE, DELETE and TRUNCATE of audit_event', async () => {
      const before = await allEvents();
      const target = before[Math.floor(before.length / 2)];
      await expect(t.db.query(`UPDATE audit_event SET outcome = 'valid' WHERE id = $1`, [target.id])).rejects.toThrow(/append-only/);
      await expect(t.db.query(`UPDATE audit_event SET details = '{}'::jsonb`)).rejects.toThrow(/append-only/);
      await expect(t.db.query(`DELETE FROM audit_event WHERE id = $1`, [target.id])).rejects.toThrow(/append-only/);
      await expect(t.db.query(`DELETE FROM audit_event`)).rejects.toThrow(/append-only/);
      await expect(t.db.query(`TRUNCATE audit_event`)).rejects.toThrow(/append-only/);
      const after = await allEvents();
      expect(after).toEqual(before);
      expect(verifyChain(after).ok).toBe(true);
    });

    it('no session setting lets a DELETE through', async () => {
      const before = await allEvents();
      const c = await t.db.connect();
      try {
        await c.query('BEGIN');
        await c.query(`SET LOCAL hospiai.audit_retention = 'on'`);
        await expect(c.query(`DELETE FROM audit_event WHERE id = $1`, [before[before.length - 1].id])).rejects.toThrow(
          /append-only: DELETE refused/,
        );
      } finally {
        await c.query('ROLLBACK');
        c.release();
      }
      expect(await allEvents()).toEqual(before);
    });

    it('the chain head and anchor only move forward, and keep their rows', async () => {
      const head = await chainHead();
      const anchor = (await t.db.query(`SELECT * FROM audit_chain_anchor`)).rows[0] as Record<string, unknown>;
      for (const sql of [
        // Winding the head back to an earlier event, or changing its hash in place, would let the
        // newest events go unnoticed.
        `UPDATE audit_chain_head SET last_id = last_id - 1`,
        `UPDATE audit_chain_head SET last_hash = repeat('0', 64)`,
        `UPDATE audit_chain_head SET last_occurred_at = last_occurred_at - interval '1 day'`,
        `UPDATE audit_chain_anchor SET first_id = first_id - 1`,
        `UPDATE audit_chain_anchor SET prev_hash = repeat('1', 64)`,
        `UPDATE audit_chain_anchor SET pruned_events = pruned_events - 1`,
        `UPDATE audit_chain_anchor SET format2_from_id = format2_from_id + 1`,
      ]) {
        await expect(t.db.query(sql)).rejects.toThrow(/only moves forward: UPDATE refused/);
      }
      for (const table of ['audit_chain_head', 'audit_chain_anchor']) {
        await expect(t.db.query(`DELETE FROM ${table}`)).rejects.toThrow(new RegExp(`${table} keeps its row: DELETE refused`));
        await expect(t.db.query(`TRUNCATE ${table}`)).rejects.toThrow(new RegExp(`${table} keeps its row: TRUNCATE refused`));
      }
      expect(await chainHead()).toEqual(head);
      expect((await t.db.query(`SELECT * FROM audit_chain_anchor`)).rows[0]).toEqual(anchor);

      // An append still moves the head, and the chain still verifies up to it.
      await t.app.get(AuditWriter).record({ type: 'token.validate', outcome: 'valid', details: { after: 'guards' } });
      const moved = await chainHead();
      expect(BigInt(moved.last_id)).toBe(BigInt(head.last_id) + 1n);
      const all = await allEvents();
      expect(verifyChain(all)).toMatchObject({ ok: true, lastHash: moved.last_hash });
    });

    it('two instances validating concurrently on one database keep one unbroken chain', async () => {
      const token = await newToken();
      const runId = randomUUID().slice(0, 8);
      const calls = Array.from({ length: 200 }, (_, i) => ({
        app: i % 2 === 0 ? t : second,
        requestId: `pair-${runId}-${i}`,
        auth: i % 4 < 2 ? `Bearer ${token.token}` : 'Bearer broken.token.value',
        status: i % 4 < 2 ? 200 : 401,
      }));
      const before = await maxId();
      const answers = await Promise.all(calls.map((c) => validate(c.app, c.requestId, c.auth)));
      answers.forEach((res, i) => expect(res.status).toBe(calls[i].status));

      const events = await eventsAfter(before);
      expect(events).toHaveLength(200);
      expect(events.map((e) => e.id)).toEqual(calls.map((_, i) => (before + 1n + BigInt(i)).toString()));
      expect(new Set(events.map((e) => e.requestId))).toEqual(new Set(answers.map((res) => res.headers.get('x-request-id'))));
      expect(new Set(events.map((e) => e.details.clientRequestId))).toEqual(new Set(calls.map((c) => c.requestId)));

      const all = await allEvents();
      const check = verifyChain(all);
      expect(check).toMatchObject({ ok: true, checked: all.length, firstBrokenId: null });
      expect(await chainHead()).toEqual({ last_id: all[all.length - 1].id, last_hash: check.lastHash });
    });
  });

  describe('account and token events', () => {
    it('token.create: actor, token id, name, scopes, duration and the full fingerprint', async () => {
      const requestId = `req-create-${randomUUID().slice(0, 8)}`;
      const res = await t.request('POST', '/api/tokens', {
        token: user.token,
        headers: ctx(requestId),
        body: { name: 'Serveur de réservations', scopes: ['read:bookings', 'write:bookings'], durationDays: 45 },
      });
      expect(res.status).toBe(201);
      secrets.add(res.body.token);
      const e = await onlyEventOf(requestId);
      expect(e).toMatchObject({ type: 'token.create', outcome: 'success', actorUserId: user.id, tokenId: res.body.id });
      expect(e.details).toEqual({
        name: 'Serveur de réservations',
        scopes: ['read:bookings', 'write:bookings'],
        durationDays: 45,
        fingerprint: sha256Hex(res.body.token),
        clientRequestId: requestId,
      });
      expectContext(e, requestId, res);
    });

    it('token.revoke: success, then already_revoked; an admin revoking is the actor', async () => {
      const created = await newToken();
      const first = `req-revoke-1-${randomUUID().slice(0, 8)}`;
      const again = `req-revoke-2-${randomUUID().slice(0, 8)}`;
      const revoked = await t.request('DELETE', `/api/tokens/${created.id}`, { token: user.token, headers: ctx(first) });
      expect(revoked.status).toBe(204);
      expect((await t.request('DELETE', `/api/tokens/${created.id}`, { token: admin.token, headers: ctx(again) })).status).toBe(204);
      const e1 = await onlyEventOf(first);
      expect(e1).toMatchObject({ type: 'token.revoke', outcome: 'success', actorUserId: user.id, tokenId: created.id });
      expect(e1.details).toMatchObject({ ownerId: user.id });
      expectContext(e1, first, revoked);
      const e2 = await onlyEventOf(again);
      expect(e2).toMatchObject({ type: 'token.revoke', outcome: 'already_revoked', actorUserId: admin.id, tokenId: created.id });
      expect(e2.details).toMatchObject({ ownerId: user.id });
    });

    it('token.rotate: the new token id, the previous one and the new fingerprint', async () => {
      const old = await newToken(user, { name: 'à tourner' });
      const requestId = `req-rotate-${randomUUID().slice(0, 8)}`;
      const res = await t.request('POST', `/api/tokens/${old.id}/rotate`, { token: user.token, headers: ctx(requestId) });
      expect(res.status).toBe(201);
      secrets.add(res.body.token);
      const e = await onlyEventOf(requestId);
      expect(e).toMatchObject({ type: 'token.rotate', outcome: 'success', actorUserId: user.id, tokenId: res.body.id });
      expect(e.details).toMatchObject({
        previousTokenId: old.id,
        ownerId: user.id,
        name: 'à tourner',
        scopes: ['read:data'],
        fingerprint: sha256Hex(res.body.token),
      });
      expectContext(e, requestId, res);
    });

    it('auth.register: success with the new user as actor; a duplicate email is a failure', async () => {
      const email = uniqueEmail('audit');
      const ok = `req-register-${randomUUID().slice(0, 8)}`;
      const res = await t.request('POST', '/api/auth/register', {
        headers: ctx(ok),
        body: { email, password: NEW_PASSWORD, firstname: 'Louis', surname: 'Pasteur' },
      });
      expect(res.status).toBe(201);
      const e = await onlyEventOf(ok);
      expect(e).toMatchObject({
        type: 'auth.register',
        outcome: 'success',
        actorUserId: res.body.user.id,
        tokenId: null,
        details: { email },
      });
      expectContext(e, ok, res);

      const dup = `req-register-dup-${randomUUID().slice(0, 8)}`;
      const again = await t.request('POST', '/api/auth/register', {
        headers: ctx(dup),
        body: { email, password: NEW_PASSWORD, firstname: 'Louis', surname: 'Pasteur' },
      });
      expect(again.status).toBe(409);
      const e2 = await onlyEventOf(dup);
      expect(e2).toMatchObject({ type: 'auth.register', outcome: 'failure', actorUserId: null, details: { email, reason: 'email_taken' } });
    });

    it('auth.login: success, wrong password, unknown email and disabled account', async () => {
      const louise = await createUser(t);
      secrets.add(louise.token);
      const ok = `req-login-${randomUUID().slice(0, 8)}`;
      const login = await t.request('POST', '/api/auth/login', {
        headers: ctx(ok),
        body: { email: louise.email, password: louise.password },
      });
      expect(login.status).toBe(200);
      secrets.add(login.body.accessToken);
      const e = await onlyEventOf(ok);
      expect(e).toMatchObject({
        type: 'auth.login',
        outcome: 'success',
        actorUserId: louise.id,
        tokenId: null,
        details: { email: louise.email },
      });
      expectContext(e, ok, login);

      const wrong = `req-login-wrong-${randomUUID().slice(0, 8)}`;
      expect(
        (await t.request('POST', '/api/auth/login', { headers: ctx(wrong), body: { email: louise.email, password: WRONG_PASSWORD } }))
          .status,
      ).toBe(401);
      expect(await onlyEventOf(wrong)).toMatchObject({
        type: 'auth.login',
        outcome: 'failure',
        actorUserId: louise.id,
        details: { email: louise.email, reason: 'wrong_password' },
      });

      const nobody = uniqueEmail('nobody');
      const unknown = `req-login-unknown-${randomUUID().slice(0, 8)}`;
      expect(
        (await t.request('POST', '/api/auth/login', { headers: ctx(unknown), body: { email: nobody, password: WRONG_PASSWORD } })).status,
      ).toBe(401);
      expect(await onlyEventOf(unknown)).toMatchObject({
        type: 'auth.login',
        outcome: 'failure',
        actorUserId: null,
        details: { email: nobody, reason: 'unknown_email' },
      });

      expect((await t.request('PATCH', `/api/users/${louise.id}`, { token: admin.token, body: { disabled: true } })).status).toBe(200);
      const disabled = `req-login-disabled-${randomUUID().slice(0, 8)}`;
      expect(
        (await t.request('POST', '/api/auth/login', { headers: ctx(disabled), body: { email: louise.email, password: louise.password } }))
          .status,
      ).toBe(401);
      expect(await onlyEventOf(disabled)).toMatchObject({
        type: 'auth.login',
        outcome: 'failure',
        actorUserId: louise.id,
        details: { reason: 'disabled' },
      });
    });

    it('user.update: a profile change by its owner, a role change by an admin', async () => {
      const jules = await createUser(t);
      secrets.add(jules.token);
      const own = `req-profile-${randomUUID().slice(0, 8)}`;
      const patched = await t.request('PATCH', '/api/users/me', {
        token: jules.token,
        headers: ctx(own),
        body: { phoneNumber: '+33 4 56 78 90 12' },
      });
      expect(patched.status).toBe(200);
      const e = await onlyEventOf(own);
      expect(e).toMatchObject({ type: 'user.update', outcome: 'success', actorUserId: jules.id, tokenId: null });
      expect(e.details).toEqual({ targetUserId: jules.id, changed: ['phoneNumber', 'profileCompletedAt'], clientRequestId: own });
      expectContext(e, own, patched);

      const byAdmin = `req-role-${randomUUID().slice(0, 8)}`;
      const promoted = await t.request('PATCH', `/api/users/${jules.id}`, {
        token: admin.token,
        headers: ctx(byAdmin),
        body: { role: 'auditor' },
      });
      expect(promoted.status).toBe(200);
      const e2 = await onlyEventOf(byAdmin);
      expect(e2).toMatchObject({ type: 'user.update', outcome: 'success', actorUserId: admin.id });
      expect(e2.details).toEqual({ targetUserId: jules.id, changed: ['role'], role: 'auditor', disabled: false, clientRequestId: byAdmin });
      expectContext(e2, byAdmin, promoted);
    });

    it('the chain still recomputes after all of these', async () => {
      const all = await allEvents();
      const types = new Set(all.map((e) => e.type));
      for (const type of ['token.validate', 'token.create', 'token.revoke', 'token.rotate', 'auth.login', 'auth.register', 'user.update']) {
        expect(types).toContain(type);
      }
      expect(verifyChain(all)).toMatchObject({ ok: true, checked: all.length });
    });
  });

  // Last: it searches everything the tests above wrote.
  describe('no credential is ever written', () => {
    it('no audit row and no log line holds a token, a session JWT or a password of this file', async () => {
      const needles = new Set<string>();
      for (const s of secrets) {
        needles.add(s);
        // The signature of a JWT alone is as telling as the token.
        if (s.split('.').length === 3) needles.add(s.split('.')[2]);
      }
      expect(needles.size).toBeGreaterThan(30);

      const { rows } = await t.db.query(`SELECT row_to_json(e)::text AS json FROM audit_event e ORDER BY id`);
      expect(rows.length).toBeGreaterThan(400);
      const logs = [...t.logs, ...second.logs];
      expect(logs.length).toBeGreaterThan(400);
      for (const needle of needles) {
        const inRows = rows.filter((r) => r.json.includes(needle));
        expect({ needle, rows: inRows.length }).toEqual({ needle, rows: 0 });
        const inLogs = logs.filter((l) => l.includes(needle));
        expect({ needle, logs: inLogs.length }).toEqual({ needle, logs: 0 });
      }
    });
  });
});

describe('audit writer once its database is closed', () => {
  // Not timing assertions: bounds, so that a flush that never returns fails instead of hanging.
  const within5s = <T>(p: Promise<T>) =>
    Promise.race([p, new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000).unref())]);

  it('an event that fails at once (no connection to take) still lets flush() return', async () => {
    const t = await startTestApp();
    const writer = t.app.get(AuditWriter);
    try {
      await t.app.get(DataSource).destroy();
      const recorded = writer.record({ type: 'token.validate', outcome: 'invalid', requestId: 'after-close' });
      const flushed = writer.flush().then(() => 'flushed');
      await expect(recorded).rejects.toThrow();
      expect(await within5s(flushed)).toBe('flushed');
    } finally {
      await t.close().catch(() => undefined);
    }
  });
});
