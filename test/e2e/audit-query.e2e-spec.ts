// GET /api/audit/events: filters, order, pagination, validation and access,
// on events made through the real API and events recorded with chosen
// addresses and times through the app's own writer (the chain stays valid).
import { randomUUID } from 'node:crypto';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import type { AuditEvent, AuditInput } from '../../src/audit/audit.types.js';
import { newestFirst, storedEvents } from '../support/audit.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';
import { cursorOf } from '../support/formats.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;


describe('audit events: query', () => {
  let t: TestApp;
  let admin: User;
  let auditor: User;
  let plain: User;
  let auditToken: { id: string; token: string };
  let auditorDataToken: { id: string; token: string };
  let userToken: { id: string; token: string };
  const u1 = randomUUID();
  const u2 = randomUUID();
  const tok1 = randomUUID();
  const tok2 = randomUUID();
  let t0: number;
  const seeds: (AuditInput & { occurredAt: Date })[] = [];

  const ids = (items: { id: string }[]): string[] => items.map((e) => e.id);
  const list = (query: string, token = auditor.token) => t.request('GET', `/api/audit/events${query ? `?${query}` : ''}`, { token });
  const validate = (token: string, ua: string, body?: unknown, headers: Record<string, string> = {}) =>
    t.request('POST', '/api/mcp/validate', { token, body, headers: { 'user-agent': ua, ...headers } });
  const createToken = async (owner: User, scopes: string[]) => {
    const r = await t.request('POST', '/api/tokens', { token: owner.token, body: { name: `t-${scopes.join('+')}`, scopes, durationDays: 30 } });
    expect(r.status).toBe(201);
    return { id: r.body.id as string, token: r.body.token as string };
  };
  /** The ids the API should give for a filter: the stored events that match, newest first. */
  const expected = async (match: (e: AuditEvent) => boolean): Promise<string[]> => ids(newestFirst((await storedEvents(t)).filter(match)));

  beforeAll(async () => {
    t = await startTestApp();
    // History with chosen times and addresses, recorded first: time only moves forward along the chain.
    t0 = Math.floor((Date.now() - 6 * HOUR) / MINUTE) * MINUTE;
    const at = (ms: number) => new Date(t0 + ms);
    seeds.push(
      { occurredAt: at(0), type: 'token.validate', outcome: 'invalid', ip: '10.1.0.1', userAgent: 'scanner/1', details: { reason: 'malformed' } },
      { occurredAt: at(10 * MINUTE), type: 'token.validate', outcome: 'revoked', ip: '10.1.0.1', tokenId: tok1, actorUserId: u1, userAgent: 'scanner/1' },
      { occurredAt: at(HOUR), type: 'token.validate', outcome: 'valid', ip: '10.1.0.2', tokenId: tok1, actorUserId: u1, userAgent: 'mcp/1' },
      { occurredAt: at(HOUR + 5 * MINUTE), type: 'token.validate', outcome: 'expired', ip: '10.1.0.2', tokenId: tok2, actorUserId: u2, userAgent: 'mcp/1' },
      { occurredAt: at(2 * HOUR), type: 'auth.login', outcome: 'failure', ip: '10.1.0.3', details: { reason: 'bad_credentials' } },
      { occurredAt: at(2 * HOUR), type: 'auth.login', outcome: 'success', ip: '10.1.0.3', actorUserId: u2 },
      { occurredAt: at(3 * HOUR), type: 'token.create', outcome: 'success', ip: '2001:db8::7', actorUserId: u1, tokenId: tok2 },
      { occurredAt: at(4 * HOUR), type: 'token.validate', outcome: 'insufficient_scope', ip: '10.1.0.1', tokenId: tok1, actorUserId: u1 },
    );
    const writer = t.app.get(AuditWriter);
    for (const s of seeds) await writer.record(s);

    admin = await createUser(t, { role: 'admin' });
    auditor = await createUser(t, { role: 'auditor' });
    plain = await createUser(t);
    auditToken = await createToken(auditor, ['read:audit']);
    auditorDataToken = await createToken(auditor, ['read:data']);
    userToken = await createToken(plain, ['read:data']);

    expect((await validate(userToken.token, 'probe-a/1.0', undefined, { 'x-forwarded-for': '10.9.9.9' })).status).toBe(200);
    expect((await validate(userToken.token, 'probe-a/1.0')).status).toBe(200);
    expect((await validate(userToken.token, 'probe-b/2.0', { requiredScopes: ['write:bookings'] })).status).toBe(403);
    expect((await validate('not-a-token', 'probe-c/3.0')).status).toBe(401);
    expect((await t.request('DELETE', `/api/tokens/${auditorDataToken.id}`, { token: auditor.token })).status).toBe(204);
    expect((await validate(auditorDataToken.token, 'probe-d/4.0')).status).toBe(401);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('shows every stored event, newest first (ties by id), with all its fields', async () => {
    const stored = await storedEvents(t);
    const r = await list('limit=1000');
    expect(r.status).toBe(200);
    expect(r.body.nextCursor).toBeNull();
    expect(r.body.items).toEqual(newestFirst(stored));
    // The two events recorded at the same instant come newest id first.
    const sameInstant = r.body.items.filter((e: AuditEvent) => e.occurredAt === new Date(t0 + 2 * HOUR).toISOString());
    expect(sameInstant.map((e: AuditEvent) => e.outcome)).toEqual(['success', 'failure']);
    expect(BigInt(sameInstant[0].id)).toBeGreaterThan(BigInt(sameInstant[1].id));
    for (let i = 1; i < r.body.items.length; i++) expect(r.body.items[i - 1].occurredAt >= r.body.items[i].occurredAt).toBe(true);
    // The seeded events kept their chosen times and addresses.
    const seeded = stored.slice(0, seeds.length);
    expect(seeded.map((e) => [e.occurredAt, e.type, e.outcome, e.ip])).toEqual(seeds.map((s) => [s.occurredAt.toISOString(), s.type, s.outcome, s.ip]));
  });

  it('records validations from the API with their user agent, outcome and token, and never the token itself', async () => {
    const r = await list(`type=token.validate&tokenId=${userToken.id}`);
    expect(r.status).toBe(200);
    expect(r.body.items.map((e: AuditEvent) => [e.outcome, e.userAgent, e.actorUserId])).toEqual([
      ['insufficient_scope', 'probe-b/2.0', plain.id],
      ['valid', 'probe-a/1.0', plain.id],
      ['valid', 'probe-a/1.0', plain.id],
    ]);
    const all = JSON.stringify((await list('limit=1000')).body);
    for (const secret of [userToken.token, auditToken.token, auditorDataToken.token, auditor.token]) expect(all).not.toContain(secret);
  });

  it('does not trust X-Forwarded-For: the address is the peer', async () => {
    const forged = await list('ip=10.9.9.9');
    expect(forged.status).toBe(200);
    expect(forged.body.items).toEqual([]);
    const peer = await list('ip=127.0.0.1&type=token.validate&userId=' + plain.id);
    expect(peer.body.items).toHaveLength(3);
  });

  describe('each filter', () => {
    it('type', async () => {
      const r = await list('type=auth.login&limit=1000');
      expect(r.status).toBe(200);
      expect(ids(r.body.items)).toEqual(await expected((e) => e.type === 'auth.login'));
      // seeded failure + success, and one login for each of the three users created
      expect(r.body.items).toHaveLength(2 + 3);
      expect(r.body.items.every((e: AuditEvent) => e.type === 'auth.login')).toBe(true);
    });

    it('outcome', async () => {
      const r = await list('outcome=revoked');
      expect(ids(r.body.items)).toEqual(await expected((e) => e.outcome === 'revoked'));
      expect(r.body.items).toHaveLength(2); // seeded, and the revoked token of the auditor
      const scope = await list('outcome=insufficient_scope');
      expect(scope.body.items.map((e: AuditEvent) => e.tokenId)).toEqual([userToken.id, tok1]);
    });

    it('userId (the actor)', async () => {
      const r = await list(`userId=${u1}`);
      expect(ids(r.body.items)).toEqual(await expected((e) => e.actorUserId === u1));
      expect(r.body.items.map((e: AuditEvent) => e.type)).toEqual(['token.validate', 'token.create', 'token.validate', 'token.validate']);
      const auditorEvents = await list(`userId=${auditor.id}`);
      expect(auditorEvents.body.items.map((e: AuditEvent) => `${e.type}:${e.outcome}`).sort()).toEqual(
        ['auth.register:success', 'auth.login:success', 'token.create:success', 'token.create:success', 'token.revoke:success', 'token.validate:revoked'].sort(),
      );
    });

    it('tokenId', async () => {
      const r = await list(`tokenId=${tok2}`);
      expect(ids(r.body.items)).toEqual(await expected((e) => e.tokenId === tok2));
      expect(r.body.items.map((e: AuditEvent) => e.type)).toEqual(['token.create', 'token.validate']);
      const revoked = await list(`tokenId=${auditorDataToken.id}`);
      expect(revoked.body.items.map((e: AuditEvent) => `${e.type}:${e.outcome}`)).toEqual(['token.validate:revoked', 'token.revoke:success', 'token.create:success']);
    });

    it('ip, IPv4 and IPv6', async () => {
      const r = await list('ip=10.1.0.1');
      expect(ids(r.body.items)).toEqual(await expected((e) => e.ip === '10.1.0.1'));
      expect(r.body.items.map((e: AuditEvent) => e.outcome)).toEqual(['insufficient_scope', 'revoked', 'invalid']);
      const v6 = await list('ip=2001:db8::7');
      expect(v6.status).toBe(200);
      expect(v6.body.items.map((e: AuditEvent) => e.type)).toEqual(['token.create']);
    });

    it('from (inclusive)', async () => {
      const from = new Date(t0 + HOUR).toISOString();
      const r = await list(`from=${from}&limit=1000`);
      expect(ids(r.body.items)).toEqual(await expected((e) => e.occurredAt >= from));
      expect(r.body.items.at(-1).occurredAt).toBe(from);
      expect(r.body.items.some((e: AuditEvent) => e.occurredAt < from)).toBe(false);
    });

    it('to (exclusive)', async () => {
      const to = new Date(t0 + HOUR).toISOString();
      const r = await list(`to=${to}`);
      expect(ids(r.body.items)).toEqual(await expected((e) => e.occurredAt < to));
      expect(r.body.items.map((e: AuditEvent) => e.outcome)).toEqual(['revoked', 'invalid']);
    });

    it('from and to in other ISO-8601 forms (offset, no milliseconds)', async () => {
      // t0 + 1h and t0 + 3h, written with a +02:00 offset
      const local = (ms: number) => new Date(ms + 2 * HOUR).toISOString().replace(/\.\d{3}Z$/, '+02:00');
      const r = await list(`from=${encodeURIComponent(local(t0 + HOUR))}&to=${encodeURIComponent(local(t0 + 3 * HOUR))}`);
      expect(r.status).toBe(200);
      expect(r.body.items.map((e: AuditEvent) => `${e.type}:${e.outcome}`)).toEqual(['auth.login:success', 'auth.login:failure', 'token.validate:expired', 'token.validate:valid']);
    });
  });

  describe('filters combined', () => {
    const cases: [string, () => string, (e: AuditEvent) => boolean][] = [
      ['type + outcome', () => 'type=token.validate&outcome=valid', (e) => e.type === 'token.validate' && e.outcome === 'valid'],
      ['ip + outcome', () => 'ip=10.1.0.1&outcome=revoked', (e) => e.ip === '10.1.0.1' && e.outcome === 'revoked'],
      ['userId + type', () => `userId=${u1}&type=token.validate`, (e) => e.actorUserId === u1 && e.type === 'token.validate'],
      ['tokenId + outcome', () => `tokenId=${tok1}&outcome=valid`, (e) => e.tokenId === tok1 && e.outcome === 'valid'],
      [
        'type + from + to',
        () => `type=token.validate&from=${new Date(t0 + 5 * MINUTE).toISOString()}&to=${new Date(t0 + 4 * HOUR).toISOString()}`,
        (e) => e.type === 'token.validate' && e.occurredAt >= new Date(t0 + 5 * MINUTE).toISOString() && e.occurredAt < new Date(t0 + 4 * HOUR).toISOString(),
      ],
      [
        'all seven',
        () => `type=token.validate&outcome=valid&userId=${plain.id}&tokenId=${userToken.id}&ip=127.0.0.1&from=${new Date(t0).toISOString()}&to=${new Date(Date.now() + HOUR).toISOString()}`,
        (e) => e.type === 'token.validate' && e.outcome === 'valid' && e.actorUserId === plain.id && e.tokenId === userToken.id && e.ip === '127.0.0.1',
      ],
      ['filters that exclude each other', () => `userId=${u1}&ip=10.1.0.3`, () => false],
    ];
    it.each(cases)('%s', async (_name, query, match) => {
      const r = await list(`${query()}&limit=1000`);
      expect(r.status).toBe(200);
      const want = await expected(match);
      expect(ids(r.body.items)).toEqual(want);
      const total = (await storedEvents(t)).length;
      expect(want.length).toBeLessThan(total);
    });

    it('each combination finds what it should (counts)', async () => {
      expect((await list('type=token.validate&outcome=valid')).body.items).toHaveLength(3);
      expect((await list(`userId=${u1}&type=token.validate`)).body.items).toHaveLength(3);
      expect((await list(`tokenId=${tok1}&outcome=valid`)).body.items).toHaveLength(1);
      expect((await list(`type=token.validate&outcome=valid&userId=${plain.id}&tokenId=${userToken.id}&ip=127.0.0.1`)).body.items).toHaveLength(2);
    });
  });

  describe('limit and cursor', () => {
    it('limit bounds the page, and nextCursor is null on the last page', async () => {
      const r = await list('limit=3');
      expect(r.status).toBe(200);
      expect(r.body.items).toHaveLength(3);
      expect(typeof r.body.nextCursor).toBe('string');
      expect(ids(r.body.items)).toEqual((await expected(() => true)).slice(0, 3));
      const exact = await list('ip=10.1.0.1&limit=3');
      expect(exact.body.items).toHaveLength(3);
      expect(exact.body.nextCursor).toBeNull();
      const dflt = await list('');
      expect(dflt.body.items.length).toBe(Math.min(100, (await storedEvents(t)).length));
    });

    it('walks everything with no gap and no duplicate while new events keep arriving', async () => {
      const before = ids(newestFirst(await storedEvents(t)));
      const writer = t.app.get(AuditWriter);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const r = await list(`limit=4${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        expect(r.body.items.length).toBeLessThanOrEqual(4);
        seen.push(...ids(r.body.items));
        cursor = r.body.nextCursor;
        pages += 1;
        // New events between pages: through the API and through the writer.
        expect((await validate(userToken.token, `paging/${pages}`)).status).toBe(200);
        await writer.record({ type: 'token.validate', outcome: 'invalid', ip: '10.7.7.7', details: { page: pages } });
      } while (cursor);
      expect(pages).toBeGreaterThan(5);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(before);
      const after = await storedEvents(t);
      expect(after.length).toBe(before.length + 2 * pages);
    });

    it('walks a filtered listing page by page while matching events arrive', async () => {
      const want = await expected((e) => e.type === 'token.validate' && e.outcome === 'valid');
      expect(want.length).toBeGreaterThan(4);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await list(`type=token.validate&outcome=valid&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        expect(r.body.items.every((e: AuditEvent) => e.type === 'token.validate' && e.outcome === 'valid')).toBe(true);
        seen.push(...ids(r.body.items));
        cursor = r.body.nextCursor;
        expect((await validate(userToken.token, 'paging-filtered')).status).toBe(200);
      } while (cursor);
      expect(seen).toEqual(want);
    });

    it('pages through events that share the same instant', async () => {
      // The writer never lets time go backwards: events recorded "in the past" now all share the last instant.
      const writer = t.app.get(AuditWriter);
      const past = new Date(t0);
      await Promise.all(Array.from({ length: 7 }, (_, i) => writer.record({ type: 'user.update', outcome: 'success', occurredAt: past, details: { i } })));
      const want = await expected((e) => e.type === 'user.update');
      expect(want).toHaveLength(7);
      const stored = (await storedEvents(t)).filter((e) => e.type === 'user.update');
      expect(new Set(stored.map((e) => e.occurredAt)).size).toBe(1);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await list(`type=user.update&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...ids(r.body.items));
        cursor = r.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual(want);
    });
  });

  describe('validation: a bad filter is 400 naming the field', () => {
    const cases: [string, string, string][] = [
      ['from=yesterday', 'from', 'from=yesterday'],
      ['to=2026-13-45', 'to', 'to=2026-13-45'],
      ['from after to', 'from', 'from=2026-11-26T10:00:00Z&to=2026-11-25T10:00:00Z'],
      ['outcome=nope', 'outcome', 'outcome=nope'],
      ['type=nope', 'type', 'type=nope'],
      ['limit=0', 'limit', 'limit=0'],
      ['limit=5000', 'limit', 'limit=5000'],
      ['limit=abc', 'limit', 'limit=abc'],
      ['limit=2.5', 'limit', 'limit=2.5'],
      ['userId=not-a-uuid', 'userId', 'userId=not-a-uuid'],
      ['tokenId=42', 'tokenId', 'tokenId=42'],
      ['ip=999.1.1.1', 'ip', 'ip=999.1.1.1'],
      ['a cursor that is not one', 'cursor', 'cursor=garbage'],
      ['a cursor with a bad id', 'cursor', `cursor=${cursorOf('2026-11-26T09:00:00.000Z|12ab')}`],
      ['an unknown parameter', 'sort', 'sort=asc'],
    ];
    it.each(cases)('%s', async (_name, field, query) => {
      const r = await list(query);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('validation_failed');
      expect(r.body.fields.map((f: { field: string }) => f.field)).toContain(field);
      expect(r.body.error).toMatch(/^Invalid request/);
    });

    it('several bad filters are all named', async () => {
      const r = await list('outcome=nope&limit=5000&ip=999.1.1.1');
      expect(r.status).toBe(400);
      expect(r.body.fields.map((f: { field: string }) => f.field).sort()).toEqual(['ip', 'limit', 'outcome']);
    });

    // A cursor is opaque, but anything the client sends must be refused with 400, not fail in the database.
    it('a forged cursor whose time or id PostgreSQL cannot read is 400, not 500', async () => {
      for (const raw of ['1|5', `2026-11-26T09:00:00.000Z|${'9'.repeat(19)}`]) {
        const r = await list(`cursor=${cursorOf(raw)}`);
        expect(r.status).toBe(400);
      }
    });

    // ISO-8601 week and ordinal dates pass the validator but not `new Date()`: an Invalid Date reaches the query.
    it('an ISO-8601 week or ordinal date is answered (400 or 200), not 500', async () => {
      for (const q of ['from=2026-W48', 'to=2026-330']) {
        const r = await list(q);
        expect([200, 400]).toContain(r.status);
      }
    });
  });

  describe('access', () => {
    it('anonymous: 401', async () => {
      const r = await t.request('GET', '/api/audit/events');
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('unauthorized');
    });

    it('a plain user: 403 on every audit route', async () => {
      for (const path of ['/api/audit/events', '/api/audit/events/export', '/api/audit/stats', '/api/audit/verify']) {
        const r = await t.request('GET', path, { token: plain.token });
        expect([path, r.status]).toEqual([path, 403]);
        expect(r.body.code).toBe('forbidden');
      }
    });

    it('an auditor and an admin: 200', async () => {
      for (const who of [auditor, admin]) {
        const r = await list('limit=1', who.token);
        expect(r.status).toBe(200);
        expect(r.body.items).toHaveLength(1);
      }
    });

    it('an API token with read:audit made by an auditor: 200 on every audit route', async () => {
      for (const path of ['/api/audit/events?limit=1', '/api/audit/events/export?format=csv&type=auth.register', '/api/audit/stats', '/api/audit/verify']) {
        const r = await t.request('GET', path, { token: auditToken.token });
        expect([path, r.status]).toEqual([path, 200]);
      }
    });

    it('an API token without read:audit: 403, even one of an auditor', async () => {
      const other = await createToken(auditor, ['read:data', 'read:bookings']);
      for (const token of [userToken.token, other.token]) {
        const r = await list('', token);
        expect(r.status).toBe(403);
      }
      // and a plain user cannot grant read:audit in the first place
      const refused = await t.request('POST', '/api/tokens', { token: plain.token, body: { name: 'x', scopes: ['read:audit'], durationDays: 1 } });
      expect(refused.status).toBe(403);
    });

    it('a revoked read:audit token: 401', async () => {
      const revoked = await createToken(auditor, ['read:audit']);
      expect((await list('limit=1', revoked.token)).status).toBe(200);
      expect((await t.request('DELETE', `/api/tokens/${revoked.id}`, { token: auditor.token })).status).toBe(204);
      expect((await list('limit=1', revoked.token)).status).toBe(401);
    });

    it("an auditor's read:audit token stops working once the auditor is demoted to user", async () => {
      const former = await createUser(t, { role: 'auditor' });
      const token = await createToken(former, ['read:audit', 'read:data']);
      expect((await list('limit=1', token.token)).status).toBe(200);
      const demoted = await t.request('PATCH', `/api/users/${former.id}`, { token: admin.token, body: { role: 'user' } });
      expect(demoted.status).toBe(200);
      expect(demoted.body.user.role).toBe('user');
      expect((await list('limit=1', token.token)).status).toBe(403);
      expect((await list('limit=1', former.token)).status).toBe(403);
      // the token itself still validates, for the scopes a user may hold
      expect((await validate(token.token, 'after-demotion', { requiredScopes: ['read:data'] })).status).toBe(200);
      // the change of role is itself audited
      const change = await list(`type=user.update&userId=${admin.id}`);
      expect(change.body.items).toHaveLength(1);
      expect(change.body.items[0].details).toMatchObject({ targetUserId: former.id, changed: ['role'] });
    });
  });
});
