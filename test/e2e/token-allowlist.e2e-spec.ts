// Per-token IP allowlists (docs/governance.md): set on create or by PATCH /api/tokens/{id}, checked
// by validate, introspection and the API-token routes against the caller's address. The address
// is varied through TRUST_PROXY=true and X-Forwarded-For, as a reverse proxy in front of the
// service would report the MCP server's.
import { basic, registerClient, type RegisteredClient } from '../support/mcp.js';
import { createUser, startTestApp, type HttpAnswer, type TestApp, type User } from '../support/test-app.js';

const DENIED = { error: 'Adresse IP non autorisée', code: 'ip_not_allowed' };

describe('token IP allowlists', () => {
  let t: TestApp;
  let user: User;
  let admin: User;
  let client: RegisteredClient;

  beforeAll(async () => {
    t = await startTestApp({ TRUST_PROXY: 'true' });
    user = await createUser(t);
    admin = await createUser(t, { role: 'admin' });
    client = await registerClient(t, admin.token, 'Serveur MCP filtré');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function create(allowedIps: unknown, session = user.token, scopes = ['read:data']): Promise<HttpAnswer> {
    return t.request('POST', '/api/tokens', { token: session, body: { name: 'mcp filtré', scopes, durationDays: 7, allowedIps } });
  }
  const validate = (token: string, from: string) => t.request('POST', '/api/mcp/validate', { token, headers: { 'x-forwarded-for': from } });

  async function eventOf(answer: HttpAnswer): Promise<Record<string, any>> {
    const { rows } = await t.db.query(`SELECT type, outcome, ip, token_id, details FROM audit_event WHERE request_id = $1`, [
      answer.headers.get('x-request-id'),
    ]);
    expect(rows).toHaveLength(1);
    return rows[0];
  }

  it('create stores the list in canonical form and shows it; validate allows inside it and refuses outside, audited with the address', async () => {
    const res = await create(['10.1.2.3/8', '192.0.2.7', '2001:DB8:0::/32', '::ffff:198.51.100.0/120']);
    expect(res.status).toBe(201);
    expect(res.body.allowedIps).toEqual(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '198.51.100.0/24']);
    const listed = await t.request('GET', `/api/tokens/${res.body.id}`, { token: user.token });
    expect(listed.body.allowedIps).toEqual(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '198.51.100.0/24']);

    const cases: [string, boolean][] = [
      ['10.200.30.40', true], // IPv4 in a CIDR range
      ['11.0.0.1', false],
      ['192.0.2.7', true], // IPv4 address
      ['192.0.2.8', false],
      ['2001:db8:4::1', true], // IPv6 in a CIDR range
      ['2001:db9::1', false],
      ['::ffff:10.9.8.7', true], // an IPv4-mapped IPv6 caller matched against the IPv4 entries
      ['::ffff:11.0.0.1', false],
      ['198.51.100.99', true],
    ];
    for (const [from, allowed] of cases) {
      const answer = await validate(res.body.token, from);
      if (allowed) {
        expect([from, answer.status]).toEqual([from, 200]);
      } else {
        expect([from, answer.status, answer.body]).toEqual([from, 403, DENIED]);
        const event = await eventOf(answer);
        expect(event).toMatchObject({ type: 'token.validate', outcome: 'ip_not_allowed', ip: from, token_id: res.body.id });
        expect(event.details.reason).toBe('ip_not_allowed');
      }
    }
  });

  it('a token without a list is usable from anywhere; null and [] mean no list', async () => {
    for (const none of [undefined, null, []]) {
      const res = await create(none);
      expect(res.status).toBe(201);
      expect(res.body.allowedIps).toBeNull();
      expect((await validate(res.body.token, '203.0.113.50')).status).toBe(200);
    }
  });

  it('the list is validated strictly: an entry that is not an address or a range, more than 50 entries', async () => {
    for (const bad of [
      ['intranet.chu.fr'],
      ['10.0.0.0/33'],
      ['10.0.0.1', 7],
      ['fe80::1%eth0'],
      '10.0.0.1',
      Array.from({ length: 51 }, (_, i) => `10.0.0.${i}`),
    ]) {
      const res = await create(bad);
      expect([JSON.stringify(bad).slice(0, 40), res.status, res.body.code]).toEqual([
        JSON.stringify(bad).slice(0, 40),
        400,
        'validation_failed',
      ]);
      expect(res.body.fields[0].field).toBe('allowedIps');
    }
    expect((await create(Array.from({ length: 50 }, (_, i) => `10.0.0.${i}`))).status).toBe(201);
  });

  it('introspection answers {active: false} from outside the list, audited with the reason', async () => {
    const res = await create(['192.0.2.0/24']);
    const introspect = (from: string) =>
      fetch(`${t.baseUrl}/api/oauth/introspect`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(client.clientId, client.clientSecret),
          'x-forwarded-for': from,
        },
        body: new URLSearchParams({ token: res.body.token }).toString(),
      });
    const inside = await introspect('192.0.2.10');
    expect(inside.status).toBe(200);
    expect(await inside.json()).toMatchObject({ active: true, jti: res.body.id });
    const outside = await introspect('203.0.113.10');
    expect(outside.status).toBe(200);
    expect(await outside.json()).toEqual({ active: false });
    const { rows } = await t.db.query(`SELECT outcome, ip, details FROM audit_event WHERE request_id = $1`, [
      outside.headers.get('x-request-id'),
    ]);
    expect(rows[0]).toMatchObject({ outcome: 'ip_not_allowed', ip: '203.0.113.10', details: { reason: 'ip_not_allowed' } });
  });

  it('the API-token routes refuse a token from outside its list with the same 403', async () => {
    const auditor = await createUser(t, { role: 'auditor' });
    const res = await create(['192.0.2.0/24'], auditor.token, ['read:audit']);
    expect(res.status).toBe(201);
    const from = (ip: string) =>
      t.request('GET', '/api/audit/events?limit=1', { token: res.body.token, headers: { 'x-forwarded-for': ip } });
    expect((await from('192.0.2.1')).status).toBe(200);
    const refused = await from('198.51.100.1');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject(DENIED);
  });

  describe('PATCH /api/tokens/{id}', () => {
    it('changes the name and the list; the very next validation follows the new list; audited with what changed', async () => {
      const res = await create(['192.0.2.0/24']);
      expect((await validate(res.body.token, '192.0.2.5')).status).toBe(200); // cached by the service now
      const patched = await t.request('PATCH', `/api/tokens/${res.body.id}`, {
        token: user.token,
        body: { name: 'Serveur de Lyon', allowedIps: ['198.51.100.0/24', '2001:db8::1'] },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({
        id: res.body.id,
        name: 'Serveur de Lyon',
        allowedIps: ['198.51.100.0/24', '2001:db8::1'],
        scopes: ['read:data'],
      });
      expect(patched.body.token).toBeUndefined();

      const refused = await validate(res.body.token, '192.0.2.5');
      expect([refused.status, refused.body]).toEqual([403, DENIED]);
      const allowed = await validate(res.body.token, '2001:db8::1');
      expect(allowed.status).toBe(200);
      expect(allowed.body.token.name).toBe('Serveur de Lyon');

      const event = await eventOf(patched);
      expect(event).toMatchObject({ type: 'token.update', outcome: 'success', token_id: res.body.id });
      expect(event.details.changes).toEqual({
        name: { from: 'mcp filtré', to: 'Serveur de Lyon' },
        allowedIps: { from: ['192.0.2.0/24'], to: ['198.51.100.0/24', '2001:db8::1'] },
      });
      expect(JSON.stringify(event.details)).not.toContain(res.body.token);
    });

    it.each([null, []])('allowedIps: %j removes the list', async (none) => {
      const res = await create(['192.0.2.0/24']);
      expect((await validate(res.body.token, '203.0.113.1')).status).toBe(403);
      const patched = await t.request('PATCH', `/api/tokens/${res.body.id}`, { token: user.token, body: { allowedIps: none } });
      expect(patched.status).toBe(200);
      expect(patched.body.allowedIps).toBeNull();
      expect((await validate(res.body.token, '203.0.113.1')).status).toBe(200);
    });

    it('scopes and lifetime are immutable: 400 token_immutable naming the fields, nothing changed', async () => {
      const res = await create(['192.0.2.0/24']);
      for (const body of [
        { scopes: ['read:data', 'write:data'] },
        { durationDays: 365 },
        { expiresAt: '2030-01-01T00:00:00Z', name: 'x' },
      ]) {
        const patched = await t.request('PATCH', `/api/tokens/${res.body.id}`, { token: user.token, body });
        expect(patched.status).toBe(400);
        expect(patched.body.code).toBe('token_immutable');
        expect(patched.body.error).toMatch(/ne peuvent pas être modifiées/);
        expect(patched.body.fields.map((f: { field: string }) => f.field)).toEqual(Object.keys(body).filter((k) => k !== 'name'));
      }
      const unchanged = await t.request('GET', `/api/tokens/${res.body.id}`, { token: user.token });
      expect(unchanged.body).toMatchObject({ name: 'mcp filtré', scopes: ['read:data'], expiresAt: res.body.expiresAt });
    });

    it('owner only: an admin gets 403 not_token_owner, another user 404; an empty body or a bad entry is 400; a revoked token 409', async () => {
      const res = await create(['192.0.2.0/24']);
      const path = `/api/tokens/${res.body.id}`;
      const byAdmin = await t.request('PATCH', path, { token: admin.token, body: { name: 'pris' } });
      expect([byAdmin.status, byAdmin.body.code]).toEqual([403, 'not_token_owner']);
      const other = await createUser(t);
      expect((await t.request('PATCH', path, { token: other.token, body: { name: 'pris' } })).status).toBe(404);
      const empty = await t.request('PATCH', path, { token: user.token, body: {} });
      expect([empty.status, empty.body.code]).toEqual([400, 'validation_failed']);
      const bad = await t.request('PATCH', path, { token: user.token, body: { allowedIps: ['10.0.0.0/8', 'partout'] } });
      expect([bad.status, bad.body.code, bad.body.fields[0].field]).toEqual([400, 'validation_failed', 'allowedIps']);
      expect((await t.request('DELETE', path, { token: user.token })).status).toBe(204);
      const revoked = await t.request('PATCH', path, { token: user.token, body: { name: 'trop tard' } });
      expect([revoked.status, revoked.body.code]).toEqual([409, 'token_revoked']);
    });

    it('a rotated token keeps its list', async () => {
      const res = await create(['192.0.2.0/24']);
      const rotated = await t.request('POST', `/api/tokens/${res.body.id}/rotate`, { token: user.token, body: {} });
      expect(rotated.status).toBe(201);
      expect(rotated.body.allowedIps).toEqual(['192.0.2.0/24']);
      expect((await validate(rotated.body.token, '203.0.113.1')).status).toBe(403);
      expect((await validate(rotated.body.token, '192.0.2.1')).status).toBe(200);
    });
  });
});
