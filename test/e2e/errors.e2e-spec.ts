import { createUser, PASSWORD, startTestApp, uniqueEmail, type HttpAnswer, type TestApp } from '../support/test-app.js';
import { UUID } from '../support/formats.js';

/** What a stack trace or a source location looks like in a body. */
const STACK = /\bat \S+ \(|\bat \/|\.(?:ts|js|mjs):\d+|node_modules|"stack"/;

const fieldsOf = (res: HttpAnswer): string[] => (res.body.fields ?? []).map((f: { field: string }) => f.field);

describe('errors', () => {
  let t: TestApp;
  /** Every error answer of this file, checked for a stack trace at the end. */
  const seen: HttpAnswer[] = [];

  /** Checks the one error shape and returns the answer. */
  function expectError(res: HttpAnswer, status: number, code: string): HttpAnswer {
    seen.push(res);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(typeof res.body.error).toBe('string');
    expect(res.body.error.length).toBeGreaterThan(0);
    expect(res.body.code).toBe(code);
    expect(typeof res.body.requestId).toBe('string');
    expect(res.body.requestId).toBe(res.headers.get('x-request-id'));
    const allowed = ['error', 'code', 'requestId', 'fields'];
    expect(Object.keys(res.body).filter((k) => !allowed.includes(k))).toEqual([]);
    expect(res.text).not.toMatch(STACK);
    return res;
  }

  const validRegistration = () => ({ email: uniqueEmail('err'), password: PASSWORD, firstname: 'Marie', surname: 'Curie' });

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  describe('validation', () => {
    it('refuses an unknown field with 400, naming it in fields', async () => {
      const res = expectError(
        await t.request('POST', '/api/auth/register', { body: { ...validRegistration(), isAdmin: true } }),
        400,
        'validation_failed',
      );
      expect(res.body.fields).toEqual([{ field: 'isAdmin', message: 'isAdmin is not an accepted field' }]);
      expect(res.body.error).toContain('isAdmin');
    });

    it('names every unknown field', async () => {
      const u = await createUser(t);
      const res = expectError(
        await t.request('PATCH', '/api/users/me', { token: u.token, body: { nickname: 'Mimi', role: 'admin' } }),
        400,
        'validation_failed',
      );
      expect(fieldsOf(res).sort()).toEqual(['nickname', 'role']);
    });

    it('refuses wrong types, naming each field', async () => {
      const res = expectError(
        await t.request('POST', '/api/auth/register', {
          body: { email: 42, password: 123456789012345, firstname: true, surname: { x: 1 }, phoneNumber: 33123456789 },
        }),
        400,
        'validation_failed',
      );
      expect(new Set(fieldsOf(res))).toEqual(new Set(['email', 'password', 'firstname', 'surname', 'phoneNumber']));

      const login = expectError(
        await t.request('POST', '/api/auth/login', { body: { email: ['a@b.fr'], password: null } }),
        400,
        'validation_failed',
      );
      expect(new Set(fieldsOf(login))).toEqual(new Set(['email', 'password']));
    });

    it.each(['null', '[]', '"text"', '42'])('refuses a JSON body that is not an object (%s) with 400', async (raw) => {
      const res = expectError(await t.request('POST', '/api/auth/login', { rawBody: raw }), 400, 'validation_failed');
      expect(new Set(fieldsOf(res))).toEqual(new Set(['email', 'password']));
    });
  });

  describe('request bodies', () => {
    it.each(['{"email": "a@b.fr",', '{email: "a@b.fr"}', "{'email': 'a@b.fr'}", '{"email": "a@b.fr"}}'])(
      'answers 400 invalid_json for broken JSON: %s',
      async (raw) => {
        const res = expectError(await t.request('POST', '/api/auth/login', { rawBody: raw }), 400, 'invalid_json');
        expect(res.body).not.toHaveProperty('fields');
        expect(res.text).not.toContain('Unexpected token');
      },
    );

    it('answers 413 for a body over 64 KiB', async () => {
      const body = JSON.stringify({ email: 'a@b.fr', password: 'x'.repeat(65 * 1024) });
      expect(Buffer.byteLength(body)).toBeGreaterThan(64 * 1024);
      const res = expectError(await t.request('POST', '/api/auth/login', { rawBody: body }), 413, 'payload_too_large');
      expect(res.text).not.toContain('xxxxxxxx');
    });

    it('reads a body just under 64 KiB (and refuses its too long password with 400)', async () => {
      const body = JSON.stringify({ email: 'a@b.fr', password: 'x'.repeat(60 * 1024) });
      const res = expectError(await t.request('POST', '/api/auth/login', { rawBody: body }), 400, 'validation_failed');
      expect(fieldsOf(res)).toEqual(['password']);
    });

    it('answers 415 for a body that is not JSON', async () => {
      expectError(
        await t.request('POST', '/api/auth/login', {
          rawBody: '<login><email>a@b.fr</email></login>',
          headers: { 'content-type': 'application/xml' },
        }),
        415,
        'unsupported_media_type',
      );
    });

    it('answers 400 in the error shape for an empty body sent as JSON', async () => {
      const res = await t.request('POST', '/api/auth/login', { rawBody: '' });
      expectError(res, 400, 'validation_failed');
    });

    // An empty body with a JSON content type is no body (the seed's curl example for validate sends one):
    // a route that needs a body names the missing fields.
    it('answers 400 naming the missing fields for an empty body sent as JSON', async () => {
      const res = await t.request('POST', '/api/auth/login', { rawBody: '' });
      expectError(res, 400, 'validation_failed');
      expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual(expect.arrayContaining(['email', 'password']));
    });
  });

  describe('request ids', () => {
    it('gives every answer a request id, a fresh one each time', async () => {
      const a = await t.request('GET', '/api/health');
      const b = await t.request('GET', '/api/health');
      expect(a.headers.get('x-request-id')).toMatch(UUID);
      expect(b.headers.get('x-request-id')).toMatch(UUID);
      expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
    });

    // A client's X-Request-Id could repeat another request's: the request id is always the service's own.
    it.each(['trace-7f3a2c', 'req_01J9Z.x:y', 'a'.repeat(64)])(
      'does not take a valid incoming X-Request-Id as its own (%s)',
      async (id) => {
        const ok = await t.request('GET', '/api/health', { headers: { 'x-request-id': id } });
        expect(ok.headers.get('x-request-id')).toMatch(UUID);
        expect(ok.headers.get('x-request-id')).not.toBe(id);
        const err = expectError(await t.request('GET', '/api/users/me', { headers: { 'x-request-id': id } }), 401, 'unauthorized');
        expect(err.body.requestId).toMatch(UUID);
        expect(err.body.requestId).not.toBe(id);
      },
    );

    it.each([
      ['200 characters', 'a'.repeat(200)],
      ['65 characters', 'b'.repeat(65)],
      ['spaces', 'my request id'],
      ['quotes and angle brackets', '"><script>'],
      ['a line feed in disguise', 'abc%0d%0aSet-Cookie:x'],
    ])('replaces an invalid incoming X-Request-Id (%s)', async (_name, id) => {
      const err = expectError(await t.request('GET', '/api/users/me', { headers: { 'x-request-id': id } }), 401, 'unauthorized');
      expect(err.body.requestId).not.toBe(id);
      expect(err.body.requestId).toMatch(UUID);
    });

    it("writes the request id in the log line of the request, and the client's apart", async () => {
      const id = 'log-check-4242';
      const res = await t.request('GET', '/api/users/me', { headers: { 'x-request-id': id } });
      const requestId = res.headers.get('x-request-id');
      expect(requestId).toMatch(UUID);
      const lines = t.logs.filter((l) => l.includes(requestId as string)).map((l) => JSON.parse(l));
      expect(lines).toContainEqual(
        expect.objectContaining({ msg: 'request', reqId: requestId, clientRequestId: id, status: 401, route: '/api/users/me' }),
      );
    });
  });

  describe('unknown routes', () => {
    it.each([
      ['GET', '/api/nope'],
      ['POST', '/api/users/me/extra'],
      ['DELETE', '/api/users/me'],
      ['GET', '/nope.php'],
    ])('answers %s %s with 404 in the same shape', async (method, path) => {
      expectError(await t.request(method, path), 404, 'not_found');
    });
  });

  describe('authentication and authorization', () => {
    it('answers 401 and 403 in the same shape', async () => {
      const u = await createUser(t);
      expectError(await t.request('GET', '/api/users'), 401, 'unauthorized');
      expectError(await t.request('GET', '/api/users', { token: 'not.a.jwt' }), 401, 'unauthorized');
      expectError(await t.request('GET', '/api/users', { token: u.token }), 403, 'forbidden');
      expectError(
        await t.request('POST', '/api/auth/login', { body: { email: u.email, password: 'wrong password!' } }),
        401,
        'invalid_credentials',
      );
      expectError(await t.request('POST', '/api/auth/register', { body: { ...validRegistration(), email: u.email } }), 409, 'email_taken');
    });
  });

  describe('no leaks', () => {
    it('never puts a stack trace or a source location in an error body', () => {
      expect(seen.length).toBeGreaterThan(25);
      for (const res of seen) expect(res.text).not.toMatch(STACK);
    });

    it('never writes a password or a session token to the log', async () => {
      const u = await createUser(t, { password: 'a password only the user knows' });
      await t.request('GET', '/api/users/me', { token: u.token });
      await t.request('POST', '/api/auth/login', { body: { email: u.email, password: 'a wrong password for the log' } });
      const all = t.logs.join('\n');
      expect(all).not.toContain('a password only the user knows');
      expect(all).not.toContain('a wrong password for the log');
      expect(all).not.toContain(u.token);
      expect(all).not.toContain(u.token.split('.')[2]);
    });
  });
});
