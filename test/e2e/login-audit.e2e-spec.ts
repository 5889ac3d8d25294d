// What a failed login's audit event holds of the email field: the address when it is one, and
// nothing of the text otherwise (people type their password there; no event holds a password).
import type { AuditEvent } from '../../src/audit/audit.types.js';
import { toAuditEvent } from '../support/audit.js';
import { createUser, startTestApp, uniqueEmail, type HttpAnswer, type TestApp } from '../support/test-app.js';

/** A password typed in the email field. */
const TYPED_PASSWORD = 'my-Secret-Passw0rd!';
const WRONG_PASSWORD = 'xxxxxxxxxxxxxxxx';

/** The one event of an answered request, found by its request id (the answer's X-Request-Id). */
async function eventOf(t: TestApp, answer: HttpAnswer): Promise<{ event: AuditEvent; json: string }> {
  const requestId = answer.headers.get('x-request-id');
  const { rows } = await t.db.query(`SELECT e.*, row_to_json(e)::text AS json FROM audit_event e WHERE request_id = $1`, [requestId]);
  expect(rows).toHaveLength(1);
  return { event: toAuditEvent(rows[0]), json: rows[0].json as string };
}

const login = (t: TestApp, email: string, password = WRONG_PASSWORD) => t.request('POST', '/api/auth/login', { body: { email, password } });

describe('failed login events', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a well-formed unknown email is recorded, as typed (lower-cased)', async () => {
    const nobody = uniqueEmail('nobody');
    const res = await login(t, `  ${nobody.toUpperCase()} `);
    expect(res.status).toBe(401);
    const { event } = await eventOf(t, res);
    expect(event).toMatchObject({
      type: 'auth.login',
      outcome: 'failure',
      actorUserId: null,
      details: { email: nobody, reason: 'unknown_email' },
    });
  });

  it('text that is not an email address (a password typed in the email field) is not recorded, in any case', async () => {
    const res = await login(t, TYPED_PASSWORD);
    const known = await login(t, uniqueEmail('nobody'));
    // The answer is the one of any wrong credentials.
    expect(res.status).toBe(401);
    expect({ ...res.body, requestId: undefined }).toEqual({ ...known.body, requestId: undefined });
    expect(res.body).toEqual({
      error: 'Email or password is incorrect',
      code: 'invalid_credentials',
      requestId: res.headers.get('x-request-id'),
    });
    const { event, json } = await eventOf(t, res);
    expect(event).toMatchObject({ type: 'auth.login', outcome: 'failure', actorUserId: null });
    expect(event.details).toEqual({ emailMalformed: true, reason: 'unknown_email' });
    expect(json.toLowerCase()).not.toContain(TYPED_PASSWORD.toLowerCase());
    expect(json.toLowerCase()).not.toContain('passw0rd');
    for (const line of t.logs) expect(line.toLowerCase()).not.toContain(TYPED_PASSWORD.toLowerCase());
  });

  it.each(['marie.curie', 'marie@', '@chu-test.fr', 'marie curie@chu-test.fr', `${'a'.repeat(65)}@chu-test.fr`])(
    'other text that register would refuse as an email (%s) is not recorded either',
    async (email) => {
      const res = await login(t, email);
      expect(res.status).toBe(401);
      const { event } = await eventOf(t, res);
      expect(event.details).toEqual({ emailMalformed: true, reason: 'unknown_email' });
    },
  );

  it('a wrong password for a known account still records its email', async () => {
    const user = await createUser(t);
    const res = await login(t, user.email);
    expect(res.status).toBe(401);
    const { event } = await eventOf(t, res);
    expect(event).toMatchObject({ actorUserId: user.id, details: { email: user.email, reason: 'wrong_password' } });
  });
});

describe('lockout events', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ LOGIN_LOCKOUT_AFTER: '2', LOGIN_LOCKOUT_SECONDS: '60' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a lockout event does not record text that is not an email address', async () => {
    for (let i = 0; i < 2; i++) expect((await login(t, TYPED_PASSWORD)).status).toBe(401);
    const res = await login(t, TYPED_PASSWORD);
    expect(res.status).toBe(429);
    const { event, json } = await eventOf(t, res);
    expect(event.details).toEqual({ emailMalformed: true, reason: 'locked_out' });
    expect(json.toLowerCase()).not.toContain(TYPED_PASSWORD.toLowerCase());
  });

  it('a lockout event of a well-formed email records it', async () => {
    const nobody = uniqueEmail('ghost');
    for (let i = 0; i < 2; i++) expect((await login(t, nobody)).status).toBe(401);
    const res = await login(t, nobody);
    expect(res.status).toBe(429);
    expect((await eventOf(t, res)).event.details).toEqual({ email: nobody, reason: 'locked_out' });
  });
});
