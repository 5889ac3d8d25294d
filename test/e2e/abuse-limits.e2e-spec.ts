// Abuse limits (turned on here; the other test files run with them off), security
// headers, CORS, and the size limits of requests.
import { request as httpRequest } from 'node:http';
import { createUser, PASSWORD, startTestApp, uniqueEmail, type TestApp, type User } from '../support/test-app.js';
import { rawRequest } from '../support/hostile.js';
import { ThrottledValidations } from '../../src/mcp-validation/throttled-validations.js';
import { until } from '../support/until.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** A JSON request from a chosen loopback address (127.0.0.2 is another client for the service). */
function from(
  localAddress: string,
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const url = new URL(path, baseUrl);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        localAddress,
        headers: { ...(data ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) } : {}), ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function expect429(a: { status: number; body: any }, retryAfter: string | string[] | null | undefined): number {
  expect(a.status).toBe(429);
  expect(a.body.code).toBe('too_many_requests');
  expect(typeof a.body.error).toBe('string');
  const seconds = Number(retryAfter);
  expect(Number.isInteger(seconds) && seconds >= 1).toBe(true);
  return seconds;
}

describe('login limits', () => {
  let t: TestApp;
  let marie: User;
  let paul: User;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_LOGIN_PER_MINUTE: '8', RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE: '4' });
    // createUser logs in once each: 2 of the 8 attempts from 127.0.0.1.
    marie = await createUser(t);
    paul = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it('per account: past 4 failures in a minute, an address that failed on the account is 429 with Retry-After; another account is not affected', async () => {
    const login = (ip: string, email: string, password = 'wrong password, twelve+') =>
      from(ip, t.baseUrl, 'POST', '/api/auth/login', { email, password });
    expect((await login('127.0.0.2', marie.email)).status).toBe(401);
    expect((await login('127.0.0.3', marie.email)).status).toBe(401);
    // A success does not spend the account's budget.
    expect((await login('127.0.0.4', marie.email, PASSWORD)).status).toBe(200);
    expect((await login('127.0.0.4', marie.email)).status).toBe(401);
    expect((await login('127.0.0.5', marie.email)).status).toBe(401);
    // marie: 4 failures of 4. An address that failed on her account is refused, even with her password.
    const refused = await login('127.0.0.5', marie.email, PASSWORD);
    expect429(refused, refused.headers['retry-after']);
    expect((await login('127.0.0.5', paul.email, PASSWORD)).status).toBe(200);
  });

  it('per address: the 9th attempt in a minute from one address is 429, whatever the account; other addresses still log in', async () => {
    const results: number[] = [];
    for (let i = 0; i < 7; i++)
      results.push(
        (await t.request('POST', '/api/auth/login', { body: { email: uniqueEmail('nobody'), password: 'wrong password, twelve+' } }))
          .status,
      );
    // 2 logins of createUser + 6 here = 8 of 8; the 7th here is the 9th.
    expect(results.slice(0, 6)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(results[6]).toBe(429);
    const r = await t.request('POST', '/api/auth/login', { body: { email: paul.email, password: PASSWORD } });
    expect429(r, r.headers.get('retry-after'));
    expect((await from('127.0.0.6', t.baseUrl, 'POST', '/api/auth/login', { email: paul.email, password: PASSWORD })).status).toBe(200);
  });
});

describe('login lockout (exponential backoff, capped, per account and address)', () => {
  let t: TestApp;
  let victim: User;
  beforeAll(async () => {
    t = await startTestApp({ LOGIN_LOCKOUT_AFTER: '3', LOGIN_LOCKOUT_SECONDS: '1', LOGIN_LOCKOUT_MAX_SECONDS: '4' });
    victim = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  const attacker = (password: string) => from('127.0.0.9', t.baseUrl, 'POST', '/api/auth/login', { email: victim.email, password });

  it('locks after 3 failures for 1 s, then 2 s, then 4 s, never more; the right password is refused while locked; the lock expires', async () => {
    for (let i = 0; i < 2; i++) expect((await attacker('wrong password, twelve+')).status).toBe(401);
    expect((await attacker('wrong password, twelve+')).status).toBe(401); // 3rd failure: locked 1 s
    const waits: number[] = [];
    for (let round = 0; round < 4; round++) {
      const locked = await attacker(PASSWORD);
      waits.push(expect429(locked, locked.headers['retry-after']));
      await sleep(waits[round] * 1000 + 100);
      expect((await attacker('wrong password, twelve+')).status).toBe(401); // one more failure after each expiry
    }
    expect(waits).toEqual([1, 2, 4, 4]);
    // Attempts during a lock do not extend it: hammering now still ends within the cap.
    for (let i = 0; i < 5; i++) expect((await attacker('wrong password, twelve+')).status).toBe(429);
    await sleep(4100);
    expect((await attacker(PASSWORD)).status).toBe(200);
    // A success clears the count: one failure does not lock again.
    expect((await attacker('wrong password, twelve+')).status).toBe(401);
    expect((await attacker(PASSWORD)).status).toBe(200);
  }, 60_000);

  it('guesses sent in parallel get no more checks than the lockout allows one after the other', async () => {
    const target = await createUser(t);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        from('127.0.0.12', t.baseUrl, 'POST', '/api/auth/login', { email: target.email, password: 'wrong password, twelve+' }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429, 429, 429]);
    for (const a of answers.filter((x) => x.status === 429)) expect429(a, a.headers['retry-after']);
    // Locked now: the right password too is refused from this address, and not from another.
    expect((await from('127.0.0.12', t.baseUrl, 'POST', '/api/auth/login', { email: target.email, password: PASSWORD })).status).toBe(429);
    expect((await from('127.0.0.13', t.baseUrl, 'POST', '/api/auth/login', { email: target.email, password: PASSWORD })).status).toBe(200);
  });

  it('the owner, from another address, is never locked out by the attacker', async () => {
    for (let i = 0; i < 4; i++) await attacker('wrong password, twelve+');
    expect((await attacker(PASSWORD)).status).toBe(429);
    expect((await from('127.0.0.10', t.baseUrl, 'POST', '/api/auth/login', { email: victim.email, password: PASSWORD })).status).toBe(200);
  });

  it('lockouts are audited, and do not reveal whether the account exists', async () => {
    const ghost = uniqueEmail('ghost');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push(
        (await from('127.0.0.11', t.baseUrl, 'POST', '/api/auth/login', { email: ghost, password: 'wrong password, twelve+' })).status,
      );
    expect(statuses).toEqual([401, 401, 401, 429]);
    const { rows } = await t.db.query(
      `SELECT count(*)::int AS n FROM audit_event WHERE type = 'auth.login' AND details->>'reason' = 'locked_out'`,
    );
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
  });
});

// The attack of an address that guesses at an account to keep its owner out: the owner's correct
// password from an address that has not failed is let through, and guesses from many addresses at
// one account stay within RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE checks a minute.
describe('login limits never lock the owner out from another address (TRUST_PROXY)', () => {
  const behindProxy = (t: TestApp, client: string, email: string, password: string) =>
    t.request('POST', '/api/auth/login', { body: { email, password }, headers: { 'x-forwarded-for': client } });

  describe('with the default limits', () => {
    let t: TestApp;
    let carol: User;
    beforeAll(async () => {
      t = await startTestApp({
        TRUST_PROXY: 'true',
        RATE_LIMIT_LOGIN_PER_MINUTE: '20',
        RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE: '10',
        LOGIN_LOCKOUT_AFTER: '5',
      });
      carol = await createUser(t, { email: uniqueEmail('carol') });
    });
    afterAll(async () => {
      await t.close();
    });

    it("ten wrong passwords from address A: Carol's password from address B is 200, while A stays throttled", async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await behindProxy(t, '203.0.113.66', carol.email, 'wrong password, twelve+')).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
      const started = Date.now();
      const owner = await behindProxy(t, '198.51.100.7', carol.email, PASSWORD);
      expect(owner.status).toBe(200);
      expect(typeof owner.body.accessToken).toBe('string');
      expect(Date.now() - started).toBeLessThan(5_000);
      const attacker = await behindProxy(t, '203.0.113.66', carol.email, PASSWORD);
      expect429(attacker, attacker.headers.get('retry-after'));
      // The lockout is keyed on the forwarded address, not the proxy's (127.0.0.1).
      const { rows } = await t.db.query(
        `SELECT ip, details->>'reason' AS reason FROM audit_event WHERE type = 'auth.login' AND details->>'email' = $1 ORDER BY id`,
        [carol.email],
      );
      expect(rows.filter((r) => r.reason === 'locked_out').map((r) => r.ip)).toEqual(Array(6).fill('203.0.113.66'));
    });
  });

  describe('guesses from many addresses at one account', () => {
    let t: TestApp;
    let dave: User;
    beforeAll(async () => {
      // 30 checks a minute: 30 at once, then one every 2 s.
      t = await startTestApp({ TRUST_PROXY: 'true', RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE: '30', LOGIN_LOCKOUT_AFTER: '5' });
      dave = await createUser(t, { email: uniqueEmail('dave') });
    });
    afterAll(async () => {
      await t.close();
    });

    it('are checked no faster than the budget; an address that failed is refused, the owner from a clean one waits and logs in', async () => {
      const t0 = Date.now();
      const guesses = Array.from({ length: 33 }, (_, i) => behindProxy(t, `203.0.113.${i + 1}`, dave.email, 'wrong password, twelve+'));
      await until('the first 30 guesses are checked', async () => {
        const { rows } = await t.db.query(
          `SELECT count(*)::int AS n FROM audit_event WHERE type = 'auth.login' AND details->>'email' = $1 AND details->>'reason' = 'wrong_password'`,
          [dave.email],
        );
        return rows[0].n >= 30;
      });
      // 203.0.113.1 has failed on the account: with the budget spent, it is refused at once.
      const again = await behindProxy(t, '203.0.113.1', dave.email, 'wrong password, twelve+');
      expect429(again, again.headers.get('retry-after'));
      const owner = await behindProxy(t, '198.51.100.8', dave.email, PASSWORD);
      expect(owner.status).toBe(200);
      expect((await Promise.all(guesses)).map((g) => g.status)).toEqual(Array(33).fill(401));
      // Every password check is audited after it ran: 30 at once, then no more than one per 2 s.
      const { rows } = await t.db.query(
        `SELECT extract(epoch FROM occurred_at) * 1000 AS at, details->>'reason' AS reason FROM audit_event
          WHERE type = 'auth.login' AND details->>'email' = $1 AND occurred_at >= to_timestamp($2 / 1000.0)
            AND coalesce(details->>'reason', '') NOT IN ('locked_out', 'account_rate') ORDER BY occurred_at`,
        [dave.email, t0],
      );
      expect(rows).toHaveLength(34);
      rows.forEach((r, k) => expect(Number(r.at) - t0).toBeGreaterThanOrEqual(Math.max(0, k - 30) * 2_000 - 100));
      expect(rows[33].reason).toBeNull();
    }, 30_000);
  });
});

describe('register limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_REGISTER_PER_MINUTE: '2' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('the 3rd registration in a minute from one address is 429 with Retry-After; another address may register', async () => {
    const body = () => ({ email: uniqueEmail('reg'), password: PASSWORD, firstname: 'A', surname: 'B' });
    expect((await t.request('POST', '/api/auth/register', { body: body() })).status).toBe(201);
    expect((await t.request('POST', '/api/auth/register', { body: body() })).status).toBe(201);
    const r = await t.request('POST', '/api/auth/register', { body: body() });
    expect429(r, r.headers.get('retry-after'));
    expect((await from('127.0.0.7', t.baseUrl, 'POST', '/api/auth/register', body())).status).toBe(201);
  });
});

describe('failed validations per address', () => {
  let t: TestApp;
  let valid: string;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE: '5' });
    const u = await createUser(t);
    valid = (await t.request('POST', '/api/tokens', { token: u.token, body: { name: 'mcp', scopes: ['read:data'], durationDays: 1 } })).body
      .token;
  });
  afterAll(async () => {
    await t.close();
  });

  const validate = (ip: string, token: string, body?: unknown) =>
    from(ip, t.baseUrl, 'POST', '/api/mcp/validate', body, { authorization: `Bearer ${token}` });

  it('past 5 failures a minute, failures from that address are 429 with Retry-After; valid tokens from it are still 200', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await validate('127.0.0.20', `bad.token.${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const refused = await validate('127.0.0.20', 'bad.token.x');
    expect(refused.body).toEqual({ error: 'Trop de validations en échec : réessayez plus tard', code: 'too_many_requests' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 20; i++) expect((await validate('127.0.0.20', valid)).status).toBe(200);
    // A valid token lacking a scope is not a failure of the token: 403 as usual.
    expect((await validate('127.0.0.20', valid, { requiredScopes: ['write:bookings'] })).status).toBe(403);
  });

  it('valid validations are never counted, and another address is not affected by these failures', async () => {
    for (let i = 0; i < 50; i++) expect((await validate('127.0.0.21', valid)).status).toBe(200);
    expect((await validate('127.0.0.21', 'bad.token.y')).status).toBe(401);
    expect((await validate('127.0.0.22', 'bad.token.z')).status).toBe(401);
  });

  it('checked failures have one event each; throttled answers are counted into one event per address and minute', async () => {
    const checked = await t.db.query(
      `SELECT count(*)::int AS n FROM audit_event WHERE type = 'token.validate' AND ip = '127.0.0.20' AND outcome = 'invalid'`,
    );
    expect(checked.rows[0].n).toBe(5);
    await t.app.get(ThrottledValidations).flush();
    const { rows } = await t.db.query(
      `SELECT coalesce(sum((details->>'count')::int), 0)::int AS n, count(*)::int AS events
         FROM audit_event WHERE type = 'token.validate' AND ip = '127.0.0.20' AND outcome = 'throttled'`,
    );
    expect(rows[0].n).toBe(4);
    expect(rows[0].events).toBeLessThanOrEqual(2);
  });
});

describe('security headers, CORS and size limits', () => {
  let t: TestApp;
  let withCors: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    withCors = await startTestApp({ CORS_ORIGINS: 'https://intranet.chu-test.fr, http://localhost:5173' });
  });
  afterAll(async () => {
    await withCors.close();
    await t.close();
  });

  it('every answer carries helmet headers and a CSP that allows nothing', async () => {
    for (const [method, path] of [
      ['GET', '/api/health'],
      ['POST', '/api/mcp/validate'],
      ['GET', '/api/tokens'],
      ['GET', '/nowhere'],
    ]) {
      const r = await t.request(method, path);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      expect(r.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(r.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(r.headers.get('content-security-policy')).toBe(
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      );
      expect(r.headers.get('x-powered-by')).toBeNull();
    }
  });

  it('Swagger UI gets a CSP that lets it load its own scripts and styles; /dashboard keeps its own', async () => {
    const docs = await t.request('GET', '/api/docs');
    expect(docs.status).toBe(200);
    const csp = docs.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self' 'unsafe-inline'");
    expect(csp).not.toContain('unsafe-eval');
    const dash = await t.request('GET', '/dashboard/tokens');
    expect(dash.headers.get('content-security-policy') ?? '').not.toBe(
      "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
  });

  it('CORS is off by default: no Access-Control header, even for a preflight', async () => {
    const pre = await t.request('OPTIONS', '/api/mcp/validate', {
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const get = await t.request('GET', '/api/health', { headers: { origin: 'https://evil.example' } });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('with CORS_ORIGINS, only the listed origins are allowed', async () => {
    const pre = await withCors.request('OPTIONS', '/api/mcp/validate', {
      headers: {
        origin: 'https://intranet.chu-test.fr',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://intranet.chu-test.fr');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect((pre.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toContain('authorization');
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    const get = await withCors.request('GET', '/api/health', { headers: { origin: 'http://localhost:5173' } });
    expect(get.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(get.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    const evil = await withCors.request('GET', '/api/health', { headers: { origin: 'https://evil.example' } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a body over 64 KiB is 413 and headers over 16 KiB are 431, both as JSON', async () => {
    const big = await t.request('POST', '/api/auth/login', {
      rawBody: JSON.stringify({ email: 'a@b.fr', password: 'x'.repeat(70 * 1024) }),
    });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('payload_too_large');
    const r = await rawRequest(t.baseUrl, `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(JSON.parse(r.body)).toEqual({ error: 'Request headers are too large', code: 'headers_too_large' });
    const ok = await rawRequest(
      t.baseUrl,
      `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Fine: ${'a'.repeat(8 * 1024)}\r\n\r\n`,
    );
    expect(ok.status).toBe(200);
    const garbage = await rawRequest(t.baseUrl, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.status).toBe(400);
    expect(JSON.parse(garbage.body).code).toBe('bad_request');
  });
});
