// A database error is logged with its type, message, code and stack, never with the values the
// query carried (TypeORM's QueryFailedError holds the query and its parameters: at registration, the
// password hash, the email, the phone number) nor PostgreSQL's detail ("Failing row contains (…)").
// Checked on a real failed request, and on every way the service writes an error to its log.
import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { PASSWORD, startTestApp, uniqueEmail, type TestApp } from '../support/test-app.js';

interface LogLine {
  level: string;
  msg?: string;
  err?: Record<string, unknown>;
  [key: string]: unknown;
}

const parse = (line: string): LogLine => JSON.parse(line) as LogLine;

describe('errors in the log carry no query values', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
    // A rule of the database the API does not know of: a registration that breaks it fails in the INSERT.
    await t.db.query(`ALTER TABLE users ADD CONSTRAINT "CHK_test_refused_surname" CHECK (surname <> 'Refusée')`);
  });
  afterAll(async () => {
    await t.close();
  });

  it('a request failing in the database: 500, logged with the error but not the password hash, email or phone', async () => {
    const email = uniqueEmail('refused');
    const phone = '+33 6 98 76 54 32';
    const before = t.logs.length;
    const res = await t.request('POST', '/api/auth/register', {
      body: { email, password: PASSWORD, firstname: 'Marie', surname: 'Refusée', phoneNumber: phone },
    });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 'Internal server error', code: 'internal_error', requestId: res.headers.get('x-request-id') });

    const written = t.logs.slice(before).join('');
    const failed = t.logs
      .slice(before)
      .map(parse)
      .filter((l) => l.msg === 'request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 'error', context: 'HTTP', reqId: res.body.requestId, route: '/api/auth/register' });
    expect(failed[0].err).toMatchObject({
      type: 'QueryFailedError',
      code: '23514',
      constraint: 'CHK_test_refused_surname',
      table: 'users',
      message: expect.stringContaining('violates check constraint'),
      stack: expect.stringContaining('QueryFailedError'),
      driverError: expect.objectContaining({ code: '23514', message: expect.stringContaining('violates check constraint') }),
    });
    for (const field of ['query', 'parameters', 'detail']) {
      expect(failed[0].err).not.toHaveProperty(field);
      expect(failed[0].err?.driverError).not.toHaveProperty(field);
    }
    for (const secret of ['$argon2', email, phone, PASSWORD, 'Refusée', 'Failing row', 'INSERT INTO']) {
      expect([secret, written.includes(secret)]).toEqual([secret, false]);
    }
  });

  describe('every way an error reaches the log', () => {
    /** A password hash look-alike, unique to this run. */
    const SECRET = `$argon2id$v=19$m=19456,t=2,p=1$${randomBytes(12).toString('base64url')}$${randomBytes(24).toString('base64url')}`;
    let failure: Error;

    beforeAll(async () => {
      // A real QueryFailedError from the app's own DataSource, the secret among its parameters.
      failure = await t.app
        .get(DataSource)
        .query(`SELECT $1::text AS hash, 1 / 0 AS boom`, [SECRET])
        .then(
          () => new Error('the query should have failed'),
          (err: Error) => err,
        );
      expect(failure.constructor.name).toBe('QueryFailedError');
      expect((failure as unknown as { parameters: unknown[] }).parameters).toEqual([SECRET]);
    });

    const expectLogged = (write: () => void, key: string): void => {
      const before = t.logs.length;
      write();
      const lines = t.logs.slice(before);
      expect(lines).toHaveLength(1);
      expect(lines[0]).not.toContain(SECRET);
      expect(lines[0]).not.toContain('SELECT $1::text');
      const logged = parse(lines[0])[key] as Record<string, unknown>;
      expect(logged).toMatchObject({ type: 'QueryFailedError', code: '22012', message: 'division by zero' });
      expect(logged).not.toHaveProperty('parameters');
      expect(logged).not.toHaveProperty('query');
    };

    it("Nest's Logger with { err }", () => {
      expectLogged(() => new Logger('Test').error({ err: failure }, 'failed'), 'err');
    });

    it("Nest's Logger with the error itself", () => {
      expectLogged(() => new Logger('Test').error(failure), 'err');
    });

    it("Nest's Logger with the error under another key", () => {
      expectLogged(() => new Logger('Test').warn({ error: failure, cause: failure }, 'failed'), 'error');
      expectLogged(() => new Logger('Test').warn({ cause: failure }, 'failed'), 'cause');
    });

    it("Fastify's logger and a request's child logger", () => {
      const fastify = t.app.getHttpAdapter().getInstance();
      expectLogged(() => fastify.log.error({ err: failure }, 'failed'), 'err');
      expectLogged(() => fastify.log.child({ reqId: 'req-test' }).error({ err: failure }, 'failed'), 'err');
    });
  });
});
