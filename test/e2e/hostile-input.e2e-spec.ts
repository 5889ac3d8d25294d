// Hostile input, generated with fast-check and from lists of known attacks: random
// headers and bodies at validate, token creation and the audit filters; SQL
// injection in every filter and field; mass assignment in every body. Every answer
// is one of the contract's statuses with a well-formed JSON body, never a 5xx, a
// stack trace or a secret, and nothing sent changes what it must not.
import fc from 'fast-check';
import { SCOPE_NAMES } from '../../libs/scopes/src/index.js';
import { HEADER_LIMIT } from '../../src/app.js';
import { expectWellFormed, InputCounter, secretsOf } from '../support/hostile.js';
import {
  createUser,
  startTestApp,
  uniqueEmail,
  type HttpAnswer,
  type RequestOptions,
  type TestApp,
  type User,
} from '../support/test-app.js';

const SQL = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "'; DROP TABLE audit_event; --",
  "1'); DELETE FROM users; --",
  "' UNION SELECT password_hash, email FROM users --",
  '" OR ""="',
  "admin'--",
  "') OR ('a'='a",
  '1 OR 1=1',
  "'; SELECT pg_sleep(5); --",
  '$$; DROP TABLE users; $$',
  "\\'; COPY users TO '/tmp/x'; --",
  "' AND (SELECT 1 FROM pg_catalog.pg_user) = 1 --",
  '%27%20OR%201%3D1',
  "'||(SELECT current_setting('server_version'))||'",
  '\u0000',
  "' OR id IS NOT NULL --",
  "00000000-0000-4000-8000-000000000000' OR '1'='1",
];

/** Header names fetch (undici) will not send, or that would break the framing of the request. */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-connection',
  'http2-settings',
]);

const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/).filter((n) => !FORBIDDEN_HEADERS.has(n));
/** A header value fetch will send: visible Latin-1, spaces and tabs inside, no CR/LF/NUL. */
const headerValue = fc
  .string({
    unit: fc
      .integer({ min: 0x20, max: 0xff })
      .filter((c) => c !== 0x7f)
      .map((c) => String.fromCharCode(c)),
    maxLength: 200,
  })
  .map((s) => s.trim());
const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/octet-stream',
  '',
  'application/json, text/html',
);
const anyJson = fc.jsonValue({ maxDepth: 3 });
const nastyString = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.constantFrom(...SQL),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.constant('x'.repeat(5000)),
);
const rawBody = fc.oneof(
  anyJson.map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 300 }),
  fc.constantFrom(
    '{',
    '{"requiredScopes":',
    '{"__proto__":{"x":1}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '[]',
    'null',
    '""',
    '{"a":1,"a":2}',
    '\u0000',
    '\uFEFF{}',
  ),
);

describe('hostile input', () => {
  let t: TestApp;
  let secrets: string[];
  let user: User;
  let other: User;
  let auditor: User;
  let validToken: string;
  const counter = new InputCounter();

  const send = async (
    what: string,
    method: string,
    path: string,
    options: RequestOptions,
    allowed: readonly number[],
  ): Promise<HttpAnswer> => {
    counter.add(what);
    const r = await t.request(method, path, options);
    expectWellFormed(r, allowed, secrets, `${method} ${path} ${JSON.stringify(options).slice(0, 300)}`);
    return r;
  };

  beforeAll(async () => {
    t = await startTestApp();
    user = await createUser(t);
    other = await createUser(t);
    auditor = await createUser(t, { role: 'auditor' });
    secrets = secretsOf(t, [user.password]);
    const created = await t.request('POST', '/api/tokens', {
      token: user.token,
      body: { name: 'fuzz', scopes: ['read:data'], durationDays: 30 },
    });
    validToken = created.body.token;
  });
  afterAll(async () => {
    counter.report('hostile-input');
    await t.close();
  });

  it('validate: random Authorization and other headers, content types and bodies', async () => {
    const authorization = fc.oneof(
      headerValue,
      fc.constantFrom('Bearer', 'bearer ', 'BEARER x', 'Basic Zm9vOmJhcg==', 'Bearer a.b.c', 'Bearer ..', 'Bearer ' + '.'.repeat(50)),
      fc.constant(null),
      fc.string({ maxLength: 3 }).map(() => `Bearer ${validToken}`),
    );
    await fc.assert(
      fc.asyncProperty(
        authorization,
        fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
        fc.option(contentTypes),
        fc.option(rawBody),
        async (auth, headers, type, body) => {
          const h: Record<string, string> = { ...headers };
          delete h.authorization;
          if (auth !== null) h.authorization = auth;
          if (type !== null) h['content-type'] = type;
          const r = await send(
            'validate',
            'POST',
            '/api/mcp/validate',
            { headers: h, ...(body !== null ? { rawBody: body } : {}) },
            [200, 400, 401, 403, 413, 415],
          );
          if (r.status === 200) expect(auth).toBe(`Bearer ${validToken}`);
          if (r.status === 401) expect(['invalid_token', 'token_expired', 'token_revoked']).toContain(r.body.code);
        },
      ),
      { numRuns: 250 },
    );
  });

  it('validate: requiredScopes of every shape', async () => {
    const requiredScopes = fc.oneof(fc.array(fc.oneof(fc.constantFrom(...SCOPE_NAMES), nastyString), { maxLength: 25 }), anyJson);
    await fc.assert(
      fc.asyncProperty(requiredScopes, fc.dictionary(fc.string({ maxLength: 20 }), anyJson, { maxKeys: 2 }), async (rs, extra) => {
        const r = await send(
          'validate body',
          'POST',
          '/api/mcp/validate',
          { token: validToken, body: { requiredScopes: rs, ...extra } },
          [200, 400, 403],
        );
        if (r.status === 403) expect(r.headers.get('www-authenticate')).not.toMatch(/[\r\n]/);
      }),
      { numRuns: 150 },
    );
  });

  it('token creation: random bodies, mass assignment included, never a token for someone else', async () => {
    const body = fc.record(
      {
        name: fc.oneof(nastyString, fc.integer(), fc.constant(null)),
        scopes: fc.oneof(fc.array(fc.oneof(fc.constantFrom(...SCOPE_NAMES), nastyString), { maxLength: 6 }), anyJson),
        durationDays: fc.oneof(fc.integer({ min: -10, max: 400 }), fc.double(), fc.string({ maxLength: 5 }), fc.constant(null)),
        userId: fc.constantFrom(other.id, auditor.id),
        id: fc.uuid(),
        token: fc.string({ maxLength: 20 }),
        revokedAt: fc.constant(null),
        expiresAt: fc.constant('2999-01-01T00:00:00Z'),
        role: fc.constant('admin'),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const r = await send('token creation', 'POST', '/api/tokens', { token: user.token, body: b }, [201, 400, 403]);
        const massAssigned = ['userId', 'id', 'token', 'revokedAt', 'expiresAt', 'role'].some((k) => k in b);
        if (massAssigned) expect(r.status).toBe(400);
        if (r.status === 201) {
          const row = await t.db.query(`SELECT user_id FROM api_tokens WHERE id = $1`, [r.body.id]);
          expect(row.rows[0].user_id).toBe(user.id);
        }
      }),
      { numRuns: 200 },
    );
    // Whatever was sent, the other accounts own no token made by this user.
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM api_tokens WHERE user_id <> $1`, [user.id]);
    expect(rows[0].n).toBe(0);
  });

  it('audit filters: random and injected query strings on every audit route', async () => {
    const filterNames = ['type', 'outcome', 'userId', 'tokenId', 'ip', 'from', 'to', 'limit', 'cursor', 'format', 'interval'];
    const key = fc.oneof(fc.constantFrom(...filterNames), fc.string({ maxLength: 12 }));
    const value = fc.oneof(
      nastyString,
      fc.constantFrom('token.validate', 'valid', '127.0.0.1', '2026-01-01', 'csv', 'hour', '0', '-1', '1001', '1e3'),
    );
    const route = fc.constantFrom('/api/audit/events', '/api/audit/events/export', '/api/audit/stats', '/api/audit/verify');
    await fc.assert(
      fc.asyncProperty(route, fc.array(fc.tuple(key, value), { maxLength: 5 }), async (path, pairs) => {
        const qs = new URLSearchParams(pairs).toString();
        const url = `${path}${qs ? `?${qs}` : ''}`;
        // A request line past the header limit is the HTTP server's 431 (with the other headers, from about there).
        const allowed = url.length > HEADER_LIMIT ? [431] : url.length > HEADER_LIMIT - 2048 ? [200, 400, 431] : [200, 400];
        await send('audit filters', 'GET', url, { token: auditor.token }, allowed);
      }),
      { numRuns: 250 },
    );
    // The case that reaches the limit for certain: four 5 000-character values.
    const long = new URLSearchParams([...Array(4).keys()].map((i): [string, string] => [`k${i}`, 'x'.repeat(5000)])).toString();
    await send('audit filters', 'GET', `/api/audit/events?${long}`, { token: auditor.token }, [431]);
  });

  it('SQL injection in every audit filter: refused or harmless', async () => {
    for (const field of ['type', 'outcome', 'userId', 'tokenId', 'ip', 'from', 'to', 'limit', 'cursor']) {
      for (const payload of SQL) {
        const r = await send(
          'SQL in filters',
          'GET',
          `/api/audit/events?${new URLSearchParams({ [field]: payload })}`,
          { token: auditor.token },
          [200, 400],
        );
        if (r.status === 200) expect(r.body.items).toEqual([]);
      }
    }
    for (const field of ['from', 'to', 'interval', 'type']) {
      for (const payload of SQL.slice(0, 6)) {
        await send(
          'SQL in filters',
          'GET',
          `/api/audit/stats?${new URLSearchParams({ [field]: payload })}`,
          { token: auditor.token },
          [200, 400],
        );
        await send(
          'SQL in filters',
          'GET',
          `/api/audit/events/export?${new URLSearchParams({ [field]: payload, format: 'ndjson' })}`,
          { token: auditor.token },
          [200, 400],
        );
      }
    }
  });

  it('SQL injection in every field of every body: stored verbatim or refused, never run', async () => {
    const usersBefore = (await t.db.query(`SELECT count(*)::int AS n FROM users`)).rows[0].n as number;
    for (const payload of SQL) {
      // Register: in the email (refused) and in the names (stored as text).
      await send(
        'SQL in bodies',
        'POST',
        '/api/auth/register',
        { body: { email: payload, password: 'a long enough password', firstname: 'A', surname: 'B' } },
        [400],
      );
      await send('SQL in bodies', 'POST', '/api/auth/login', { body: { email: payload, password: payload } }, [400, 401]);
      await send(
        'SQL in bodies',
        'POST',
        '/api/auth/login',
        { body: { email: user.email, password: `${payload} padding to twelve` } },
        [400, 401],
      );
      const created = await send(
        'SQL in bodies',
        'POST',
        '/api/tokens',
        { token: user.token, body: { name: payload.slice(0, 100) || 'x', scopes: ['read:data'], durationDays: 1 } },
        [201, 400],
      );
      if (created.status === 201) {
        const row = await t.db.query(`SELECT name FROM api_tokens WHERE id = $1`, [created.body.id]);
        expect(row.rows[0].name).toBe(created.body.name);
      }
      await send(
        'SQL in bodies',
        'PATCH',
        '/api/users/me',
        { token: user.token, body: { firstname: payload.slice(0, 100) || 'x', surname: payload.slice(0, 100) || 'x' } },
        [200, 400],
      );
      await send('SQL in bodies', 'PATCH', '/api/users/me', { token: user.token, body: { phoneNumber: payload } }, [200, 400]);
      await send('SQL in bodies', 'GET', `/api/tokens/${encodeURIComponent(payload)}`, { token: user.token }, [400, 404]);
      await send('SQL in bodies', 'DELETE', `/api/tokens/${encodeURIComponent(payload)}`, { token: user.token }, [400, 404]);
      await send(
        'SQL in bodies',
        'POST',
        '/api/mcp/validate',
        { headers: { authorization: `Bearer ${payload.replaceAll('\u0000', '')}` } },
        [401],
      );
    }
    const names = [uniqueEmail('sqli')];
    for (const payload of SQL.filter((p) => !p.includes('\u0000')).slice(0, 5)) {
      const email = uniqueEmail('sqli');
      names.push(email);
      const r = await send(
        'SQL in bodies',
        'POST',
        '/api/auth/register',
        { body: { email, password: 'a long enough password', firstname: payload, surname: payload } },
        [201],
      );
      expect(r.body.user.firstname).toBe(payload.trim());
    }
    const after = await t.db.query(`SELECT count(*)::int AS n FROM users`);
    expect(after.rows[0].n).toBe(usersBefore + 5);
    const tables = await t.db.query(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('users', 'audit_event', 'api_tokens')`,
    );
    expect(tables.rows[0].n).toBe(3);
  });

  it('mass assignment: role, id, userId and other server-side fields are refused in every body', async () => {
    const email = uniqueEmail('mass');
    const reg = { email, password: 'a long enough password', firstname: 'A', surname: 'B' };
    for (const extra of [
      { role: 'admin' },
      { id: other.id },
      { userId: other.id },
      { disabledAt: null },
      { createdAt: '2000-01-01T00:00:00Z' },
      { profileCompletedAt: '2000-01-01T00:00:00Z' },
      { passwordHash: 'x' },
    ]) {
      const r = await send('mass assignment', 'POST', '/api/auth/register', { body: { ...reg, ...extra } }, [400]);
      expect(r.body.code).toBe('validation_failed');
      await send('mass assignment', 'PATCH', '/api/users/me', { token: user.token, body: { firstname: 'Z', ...extra } }, [400]);
      await send(
        'mass assignment',
        'POST',
        '/api/tokens',
        { token: user.token, body: { name: 'n', scopes: ['read:data'], durationDays: 1, ...extra } },
        [400],
      );
      await send(
        'mass assignment',
        'POST',
        `/api/tokens/00000000-0000-4000-8000-000000000000/rotate`,
        { token: user.token, body: { ...extra } },
        [400, 404],
      );
    }
    // A user cannot give itself a role through the admin route either.
    await send('mass assignment', 'PATCH', `/api/users/${user.id}`, { token: user.token, body: { role: 'admin' } }, [403]);
    await send(
      'mass assignment',
      'POST',
      '/api/tokens',
      { token: user.token, body: { name: 'n', scopes: ['read:audit'], durationDays: 1 } },
      [400, 403],
    );
    const me = await t.db.query(`SELECT role, firstname FROM users WHERE id = $1`, [user.id]);
    expect(me.rows[0].role).toBe('user');
    const created = await t.db.query(`SELECT count(*)::int AS n FROM users WHERE email = $1`, [email]);
    expect(created.rows[0].n).toBe(0);
  });

  it('register and login: random bodies', async () => {
    const body = fc.record(
      {
        email: fc.oneof(fc.emailAddress(), nastyString),
        password: nastyString,
        firstname: nastyString,
        surname: nastyString,
        phoneNumber: nastyString,
        role: fc.constant('admin'),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (b, login) => {
        const r = await send(
          login ? 'login' : 'register',
          'POST',
          login ? '/api/auth/login' : '/api/auth/register',
          { body: b },
          login ? [200, 400, 401] : [201, 400, 409],
        );
        if (r.status === 201) expect(r.body.user.role).toBe('user');
        if ('role' in b && !login) expect(r.status).toBe(400);
      }),
      { numRuns: 80 },
    );
  });
});
