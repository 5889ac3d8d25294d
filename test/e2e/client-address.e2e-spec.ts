// The client address behind a reverse proxy (TRUST_PROXY): an X-Forwarded-For entry is believed
// only when it is an IP address; any other text a client writes there gives way to the TCP peer,
// in audit events, in a token's last use and in the abuse limits' counts.
import { createUser, PASSWORD, startTestApp, uniqueEmail, type HttpAnswer, type TestApp, type User } from '../support/test-app.js';

/** The loopback peer as the service sees the test client (it listens on 127.0.0.1). */
const PEER = /^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/;

/** X-Forwarded-For values that are not an IP address: the peer's address stands in their place. */
const NOT_AN_IP: readonly string[] = [
  'not-an-ip',
  '=HYPERLINK("x")',
  '=HYPERLINK("http://evil.example/?q=1","click")',
  '@SUM(1+1)',
  '10.0.0.1:8080',
  '999.1.1.1',
  'unknown',
  'not-an-ip, 203.0.113.9',
];

async function createToken(t: TestApp, sessionToken: string): Promise<{ id: string; token: string }> {
  const res = await t.request('POST', '/api/tokens', {
    token: sessionToken,
    body: { name: 'mcp', scopes: ['read:data'], durationDays: 7 },
  });
  expect(res.status).toBe(201);
  return res.body;
}

/** The address stored in the one audit event of a request, found by its request id (the answer's X-Request-Id). */
async function ipOfRequest(t: TestApp, answer: HttpAnswer): Promise<string | null> {
  const { rows } = await t.db.query(`SELECT ip FROM audit_event WHERE request_id = $1`, [answer.headers.get('x-request-id')]);
  expect(rows).toHaveLength(1);
  return rows[0].ip;
}

describe('client address with TRUST_PROXY=true', () => {
  let t: TestApp;
  let user: User;
  let token: { id: string; token: string };

  beforeAll(async () => {
    t = await startTestApp({ TRUST_PROXY: 'true' });
    user = await createUser(t);
    token = await createToken(t, user.token);
  });
  afterAll(async () => {
    await t?.close();
  });

  const validate = (forwardedFor: string) =>
    t.request('POST', '/api/mcp/validate', { token: token.token, headers: { 'x-forwarded-for': forwardedFor } });

  it.each(NOT_AN_IP)('X-Forwarded-For: %s is not an IP address: the validation event holds the peer address', async (forwardedFor) => {
    const res = await validate(forwardedFor);
    expect(res.status).toBe(200);
    expect(await ipOfRequest(t, res)).toMatch(PEER);
  });

  it.each(['203.0.113.7', '2001:db8::7', '203.0.113.7, 10.0.0.2'])(
    'X-Forwarded-For: %s: its leftmost address is used',
    async (forwardedFor) => {
      const res = await validate(forwardedFor);
      expect(res.status).toBe(200);
      expect(await ipOfRequest(t, res)).toBe(forwardedFor.split(',')[0]);
    },
  );

  it("a token's last use holds the checked address", async () => {
    const lastUsedIp = async (): Promise<string | null> => {
      const res = await t.request('GET', `/api/tokens/${token.id}`, { token: user.token });
      expect(res.status).toBe(200);
      return res.body.lastUsedIp;
    };
    expect((await validate('203.0.113.40')).status).toBe(200);
    expect(await lastUsedIp()).toBe('203.0.113.40');
    expect((await validate('=HYPERLINK("x")')).status).toBe(200);
    expect(await lastUsedIp()).toMatch(PEER);
  });

  it('events of other routes (a failed login, a token creation) hold the checked address too', async () => {
    const failed = await t.request('POST', '/api/auth/login', {
      headers: { 'x-forwarded-for': '=HYPERLINK("x")' },
      body: { email: user.email, password: 'not the right password at all' },
    });
    expect(failed.status).toBe(401);
    expect(await ipOfRequest(t, failed)).toMatch(PEER);

    const created = await t.request('POST', '/api/tokens', {
      token: user.token,
      headers: { 'x-forwarded-for': 'not-an-ip' },
      body: { name: 'mcp', scopes: ['read:data'], durationDays: 7 },
    });
    expect(created.status).toBe(201);
    expect(await ipOfRequest(t, created)).toMatch(PEER);
  });

  it('no stored event holds an address that is not an IP address', async () => {
    const { rows } = await t.db.query(`SELECT DISTINCT ip FROM audit_event WHERE ip IS NOT NULL`);
    const ips = rows.map((r) => r.ip as string);
    expect(ips.length).toBeGreaterThan(0);
    for (const ip of ips) expect(ip).toMatch(/^(?:[0-9.]+|[0-9a-f:.]+)$/i);
  });
});

describe('abuse limits with TRUST_PROXY=true count the checked address', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ TRUST_PROXY: 'true', RATE_LIMIT_REGISTER_PER_MINUTE: '2', RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE: '3' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('registrations with a different non-address X-Forwarded-For each are all counted on the peer: the 3rd is 429', async () => {
    const register = (forwardedFor: string) =>
      t.request('POST', '/api/auth/register', {
        headers: { 'x-forwarded-for': forwardedFor },
        body: { email: uniqueEmail('xff'), password: PASSWORD, firstname: 'Marie', surname: 'Curie' },
      });
    expect((await register('junk-1')).status).toBe(201);
    expect((await register('=HYPERLINK("x")')).status).toBe(201);
    const third = await register('junk-3');
    expect(third.status).toBe(429);
    expect(third.body.code).toBe('too_many_requests');
    // An address is still believed: another client (as the proxy says) may register.
    expect((await register('203.0.113.50')).status).toBe(201);
  });

  it('failed validations with a different non-address X-Forwarded-For each are all counted on the peer', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.request('POST', '/api/mcp/validate', { token: `bad.token.${i}`, headers: { 'x-forwarded-for': `junk-${i}` } });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const other = await t.request('POST', '/api/mcp/validate', { token: 'bad.token.x', headers: { 'x-forwarded-for': '203.0.113.51' } });
    expect(other.status).toBe(401);
  });
});

describe('client address with TRUST_PROXY set to the proxy addresses', () => {
  let t: TestApp;
  let token: { id: string; token: string };

  beforeAll(async () => {
    t = await startTestApp({ TRUST_PROXY: '127.0.0.1' });
    token = await createToken(t, (await createUser(t)).token);
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    ['not-an-ip', PEER],
    ['=HYPERLINK("x")', PEER],
    ['203.0.113.7', /^203\.0\.113\.7$/],
    ['=HYPERLINK("x"), 203.0.113.8', /^203\.0\.113\.8$/],
  ])('X-Forwarded-For: %s', async (forwardedFor, want) => {
    const res = await t.request('POST', '/api/mcp/validate', {
      token: token.token,
      headers: { 'x-forwarded-for': forwardedFor },
    });
    expect(res.status).toBe(200);
    expect(await ipOfRequest(t, res)).toMatch(want);
  });
});
