import { createHmac, type KeyObject } from 'node:crypto';
import { KeyRing } from '../../src/auth/key-ring.js';
import {
  createUser,
  PASSWORD,
  startTestApp,
  startTestAppOn,
  TEST_JWT_SECRET,
  uniqueEmail,
  type TestApp,
  type User,
} from '../support/test-app.js';
import { UUID } from '../support/formats.js';

const USER_KEYS = ['createdAt', 'email', 'firstname', 'id', 'name', 'phoneNumber', 'profileCompletedAt', 'role', 'surname'];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const decode = (part: string): Record<string, unknown> => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

/** A HS256 JWT made by hand, to forge sessions. */
function signJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject | Buffer): string {
  const unsigned = `${b64(header)}.${b64(payload)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

function withoutRequestId(body: Record<string, unknown>): Record<string, unknown> {
  const { requestId, ...rest } = body;
  expect(typeof requestId).toBe('string');
  return rest;
}

describe('auth', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  describe('POST /api/auth/register', () => {
    it('creates an account and answers 201 {user} with the documented fields', async () => {
      const email = uniqueEmail('register');
      const res = await t.request('POST', '/api/auth/register', {
        body: { email, password: PASSWORD, firstname: 'Marie', surname: 'Curie' },
      });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body)).toEqual(['user']);
      const user = res.body.user;
      expect(Object.keys(user).sort()).toEqual(USER_KEYS);
      expect(user).toMatchObject({
        email,
        firstname: 'Marie',
        surname: 'Curie',
        name: 'Marie Curie',
        phoneNumber: null,
        profileCompletedAt: null,
        role: 'user',
      });
      expect(user.id).toMatch(UUID);
      expect(user.createdAt).toMatch(ISO);

      const { rows } = await t.db.query('SELECT email, role, password_hash FROM users WHERE id = $1', [user.id]);
      expect(rows).toHaveLength(1);
      expect(rows[0].role).toBe('user');
      expect(rows[0].password_hash).toMatch(/^\$argon2id\$/);
      expect(res.text).not.toContain(PASSWORD);
      expect(res.text).not.toContain('argon2');
    });

    it('sets profileCompletedAt when a phone number is given at registration', async () => {
      const res = await t.request('POST', '/api/auth/register', {
        body: {
          email: uniqueEmail('phone'),
          password: PASSWORD,
          firstname: ' Pierre ',
          surname: 'Curie',
          phoneNumber: '+33 1 23 45 67 89',
        },
      });
      expect(res.status).toBe(201);
      expect(res.body.user.firstname).toBe('Pierre');
      expect(res.body.user.name).toBe('Pierre Curie');
      expect(res.body.user.phoneNumber).toBe('+33 1 23 45 67 89');
      expect(res.body.user.profileCompletedAt).toMatch(ISO);
    });

    it('stores the email lower-cased', async () => {
      const email = uniqueEmail('Mixed.CASE');
      const res = await t.request('POST', '/api/auth/register', {
        body: { email: `  ${email.toUpperCase()} `, password: PASSWORD, firstname: 'Marie', surname: 'Curie' },
      });
      expect(res.status).toBe(201);
      expect(res.body.user.email).toBe(email.toLowerCase());
      const { rows } = await t.db.query('SELECT email FROM users WHERE id = $1', [res.body.user.id]);
      expect(rows[0].email).toBe(email.toLowerCase());
    });

    it('refuses a password shorter than 12 characters, naming the field', async () => {
      const email = uniqueEmail('shortpw');
      const res = await t.request('POST', '/api/auth/register', {
        body: { email, password: 'elevenchars', firstname: 'Marie', surname: 'Curie' },
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual(['password']);
      expect(res.body.error).toContain('password');
      const { rowCount } = await t.db.query('SELECT 1 FROM users WHERE email = $1', [email]);
      expect(rowCount).toBe(0);
    });

    it('accepts a password of exactly 12 characters', async () => {
      const res = await t.request('POST', '/api/auth/register', {
        body: { email: uniqueEmail('pw12'), password: 'twelve-chars', firstname: 'Marie', surname: 'Curie' },
      });
      expect(res.status).toBe(201);
    });

    it('refuses a missing firstname or surname and a malformed email, naming each field', async () => {
      const res = await t.request('POST', '/api/auth/register', { body: { email: 'not-an-email', password: PASSWORD } });
      expect(res.status).toBe(400);
      const fields = new Set(res.body.fields.map((f: { field: string }) => f.field));
      expect(fields).toEqual(new Set(['email', 'firstname', 'surname']));
    });

    it('refuses a firstname or surname with a line break, an escape or a bidirectional override, naming the field', async () => {
      for (const value of ['Marie\r\nAdmin', 'Marie\u001b[31m', 'Marie\u202Eeiruc']) {
        const res = await t.request('POST', '/api/auth/register', {
          body: { email: uniqueEmail(), password: PASSWORD, firstname: value, surname: value },
        });
        expect(res.status).toBe(400);
        expect(new Set(res.body.fields.map((f: { field: string }) => f.field))).toEqual(new Set(['firstname', 'surname']));
      }
    });

    it('answers 409 for an email already taken, also in another case', async () => {
      const email = uniqueEmail('dup');
      const body = { email, password: PASSWORD, firstname: 'Marie', surname: 'Curie' };
      expect((await t.request('POST', '/api/auth/register', { body })).status).toBe(201);

      const again = await t.request('POST', '/api/auth/register', { body });
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('email_taken');

      const upper = await t.request('POST', '/api/auth/register', { body: { ...body, email: email.toUpperCase() } });
      expect(upper.status).toBe(409);
      expect(upper.body.code).toBe('email_taken');

      const { rowCount } = await t.db.query('SELECT 1 FROM users WHERE lower(email) = $1', [email]);
      expect(rowCount).toBe(1);
    });

    it('is closed with ALLOW_REGISTRATION=false (403), while login still works', async () => {
      const closed = await startTestApp({
        ALLOW_REGISTRATION: 'false',
        ADMIN_EMAIL: 'admin@chu-test.fr',
        ADMIN_PASSWORD: 'a long admin passphrase',
      });
      try {
        const email = uniqueEmail('closed');
        const res = await closed.request('POST', '/api/auth/register', {
          body: { email, password: PASSWORD, firstname: 'Marie', surname: 'Curie' },
        });
        expect(res.status).toBe(403);
        expect(res.body.code).toBe('registration_closed');
        const { rowCount } = await closed.db.query('SELECT 1 FROM users WHERE email = $1', [email]);
        expect(rowCount).toBe(0);

        const login = await closed.request('POST', '/api/auth/login', {
          body: { email: 'admin@chu-test.fr', password: 'a long admin passphrase' },
        });
        expect(login.status).toBe(200);
      } finally {
        await closed.close();
      }
    });
  });

  describe('POST /api/auth/login', () => {
    it('answers 200 {accessToken, tokenType, expiresIn, user}', async () => {
      const email = uniqueEmail('login');
      const reg = await t.request('POST', '/api/auth/register', {
        body: { email, password: PASSWORD, firstname: 'Marie', surname: 'Curie' },
      });
      const res = await t.request('POST', '/api/auth/login', { body: { email, password: PASSWORD } });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['accessToken', 'expiresIn', 'tokenType', 'user']);
      expect(res.body.tokenType).toBe('Bearer');
      expect(res.body.expiresIn).toBe(3600);
      expect(res.body.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(res.body.user).toEqual(reg.body.user);

      const me = await t.request('GET', '/api/users/me', { token: res.body.accessToken });
      expect(me.status).toBe(200);
      expect(me.body.user.id).toBe(reg.body.user.id);
    });

    it('accepts the email in any case', async () => {
      const u = await createUser(t);
      const res = await t.request('POST', '/api/auth/login', { body: { email: ` ${u.email.toUpperCase()}`, password: PASSWORD } });
      expect(res.status).toBe(200);
      expect(res.body.user.id).toBe(u.id);
    });

    it('gives the same 401 for a wrong password, an unknown email and a disabled account', async () => {
      const u = await createUser(t);
      const wrongPassword = await t.request('POST', '/api/auth/login', { body: { email: u.email, password: `${PASSWORD}!` } });
      const unknownEmail = await t.request('POST', '/api/auth/login', { body: { email: uniqueEmail('nobody'), password: PASSWORD } });

      const disabled = await createUser(t);
      await t.db.query('UPDATE users SET disabled_at = now() WHERE id = $1', [disabled.id]);
      const disabledLogin = await t.request('POST', '/api/auth/login', { body: { email: disabled.email, password: PASSWORD } });

      for (const res of [wrongPassword, unknownEmail, disabledLogin]) {
        expect(res.status).toBe(401);
        expect(res.body.code).toBe('invalid_credentials');
        expect(res.body.requestId).toBe(res.headers.get('x-request-id'));
        expect(res.body).not.toHaveProperty('accessToken');
      }
      expect(withoutRequestId(unknownEmail.body)).toEqual(withoutRequestId(wrongPassword.body));
      expect(withoutRequestId(disabledLogin.body)).toEqual(withoutRequestId(wrongPassword.body));
      expect(wrongPassword.body.error).not.toMatch(/unknown|not found|disabled|password is wrong/i);
    });

    it('refuses a login without a password (400)', async () => {
      const res = await t.request('POST', '/api/auth/login', { body: { email: uniqueEmail() } });
      expect(res.status).toBe(400);
      expect(res.body.fields.map((f: { field: string }) => f.field)).toContain('password');
    });
  });

  describe('session JWT', () => {
    let u: User;
    let other: User;
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    const sessionKey = (): KeyObject => new KeyRing(Buffer.from(TEST_JWT_SECRET)).session as KeyObject;

    beforeAll(async () => {
      u = await createUser(t);
      other = await createUser(t, { role: 'admin' });
      const [h, p] = u.token.split('.');
      header = decode(h);
      payload = decode(p);
    });

    it('has header alg HS256, typ session+jwt and a session kid', () => {
      expect(header.alg).toBe('HS256');
      expect(header.typ).toBe('session+jwt');
      expect(header.kid).toMatch(/^session-/);
    });

    it('has audience hospiai:session, the user as subject and a one-hour lifetime', () => {
      expect(payload.aud).toBe('hospiai:session');
      expect(payload.sub).toBe(u.id);
      expect(payload.iss).toBe('hospiai');
      expect(payload.token_use).toBe('session');
      expect(Number(payload.exp) - Number(payload.iat)).toBe(3600);
      expect(JSON.stringify(payload)).not.toContain(PASSWORD);
    });

    it('is accepted when made with the session key (control for the forgeries below)', async () => {
      const forged = signJwt(header, { ...payload }, sessionKey());
      const res = await t.request('GET', '/api/users/me', { token: forged });
      expect(res.status).toBe(200);
      expect(res.body.user.id).toBe(u.id);
    });

    it('is refused with a tampered payload', async () => {
      const [h, , s] = u.token.split('.');
      const tampered = `${h}.${b64({ ...payload, sub: other.id })}.${s}`;
      const res = await t.request('GET', '/api/users/me', { token: tampered });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('unauthorized');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    });

    it('is refused with alg none', async () => {
      for (const alg of ['none', 'None', 'NONE']) {
        const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}.`;
        const res = await t.request('GET', '/api/users/me', { token: unsigned });
        expect(res.status).toBe(401);
      }
    });

    it("is refused with another header typ, even signed with the session key (an API token's is JWT)", async () => {
      for (const typ of ['JWT', 'jwt', 'at+jwt', undefined]) {
        const forged = signJwt({ ...header, typ }, { ...payload }, sessionKey());
        expect((await t.request('GET', '/api/users/me', { token: forged })).status).toBe(401);
      }
    });

    it('is refused when signed with JWT_SECRET itself instead of the session key', async () => {
      const forged = signJwt(header, { ...payload }, Buffer.from(TEST_JWT_SECRET));
      const res = await t.request('GET', '/api/users/me', { token: forged });
      expect(res.status).toBe(401);
    });

    it('is refused with another audience, another issuer, another token_use, another or no password binding, or when expired', async () => {
      const now = Math.floor(Date.now() / 1000);
      const variants = [
        { ...payload, aud: 'hospiai:api' },
        { ...payload, iss: 'someone-else' },
        { ...payload, token_use: 'api' },
        { ...payload, cred: undefined },
        { ...payload, cred: createHmac('sha256', sessionKey()).update('another password hash').digest('base64url') },
        { ...payload, iat: now - 7300, exp: now - 3700 },
      ];
      for (const claims of variants) {
        const res = await t.request('GET', '/api/users/me', { token: signJwt(header, claims, sessionKey()) });
        expect(res.status).toBe(401);
      }
    });

    it('is refused for a user that does not exist', async () => {
      const forged = signJwt(header, { ...payload, sub: '00000000-0000-4000-8000-000000000000' }, sessionKey());
      expect((await t.request('GET', '/api/users/me', { token: forged })).status).toBe(401);
    });

    it('is refused without the Bearer scheme, or when missing', async () => {
      expect((await t.request('GET', '/api/users/me', { headers: { authorization: u.token } })).status).toBe(401);
      expect((await t.request('GET', '/api/users/me', { headers: { authorization: `Basic ${u.token}` } })).status).toBe(401);
      expect((await t.request('GET', '/api/users/me')).status).toBe(401);
    });
  });

  describe('ADMIN_EMAIL / ADMIN_PASSWORD', () => {
    const ADMIN_EMAIL = 'Chief.Admin@CHU-Test.fr';
    let a: TestApp;
    beforeAll(async () => {
      a = await startTestApp({ ADMIN_EMAIL, ADMIN_PASSWORD: 'first admin passphrase' });
    });
    afterAll(async () => {
      await a.close();
    });

    const login = (app: TestApp, password: string) =>
      app.request('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL.toLowerCase(), password } });

    it('ensures an admin account at start', async () => {
      const res = await login(a, 'first admin passphrase');
      expect(res.status).toBe(200);
      expect(res.body.user.role).toBe('admin');
      expect(res.body.user.email).toBe('chief.admin@chu-test.fr');
      const list = await a.request('GET', '/api/users', { token: res.body.accessToken });
      expect(list.status).toBe(200);
      expect(list.body.items.map((i: { email: string }) => i.email)).toContain('chief.admin@chu-test.fr');
    });

    it('updates the password of the admin when the app starts again with another ADMIN_PASSWORD, ending the sessions opened with the old one', async () => {
      const before = await login(a, 'first admin passphrase');
      expect(before.status).toBe(200);
      const second = await startTestAppOn(a.databaseUrl, { ADMIN_EMAIL, ADMIN_PASSWORD: 'second admin passphrase' });
      try {
        expect((await login(second, 'first admin passphrase')).status).toBe(401);
        const after = await login(second, 'second admin passphrase');
        expect(after.status).toBe(200);
        // A password is changed because it may be known to someone else: whoever logged in with it is logged out.
        for (const app of [a, second]) {
          expect((await app.request('GET', '/api/users', { token: before.body.accessToken })).status).toBe(401);
          expect((await app.request('GET', '/api/users', { token: after.body.accessToken })).status).toBe(200);
        }
        const { rows } = await second.db.query('SELECT count(*)::int AS n FROM users WHERE email = $1', ['chief.admin@chu-test.fr']);
        expect(rows[0].n).toBe(1);
      } finally {
        await second.close();
      }
    });

    it('audits the account it creates and the password it sets, without the password', async () => {
      const { rows } = await a.db.query(
        `SELECT type, outcome, actor_user_id, details FROM audit_event WHERE type IN ('auth.register', 'user.update') ORDER BY id`,
      );
      const admin = (await a.db.query('SELECT id FROM users WHERE email = $1', ['chief.admin@chu-test.fr'])).rows[0].id as string;
      expect(rows).toEqual([
        {
          type: 'auth.register',
          outcome: 'success',
          actor_user_id: admin,
          details: { email: 'chief.admin@chu-test.fr', source: 'ADMIN_EMAIL' },
        },
        {
          type: 'user.update',
          outcome: 'success',
          actor_user_id: null,
          details: { targetUserId: admin, changed: ['password'], source: 'ADMIN_PASSWORD' },
        },
      ]);
      expect(JSON.stringify(rows)).not.toMatch(/passphrase/);
    });

    it('starts again without any change or event when the admin already has the password', async () => {
      const before = (await a.db.query(`SELECT count(*)::int AS n FROM audit_event`)).rows[0].n as number;
      const again = await startTestAppOn(a.databaseUrl, { ADMIN_EMAIL, ADMIN_PASSWORD: 'second admin passphrase' });
      try {
        expect((await login(again, 'second admin passphrase')).status).toBe(200);
      } finally {
        await again.close();
      }
      const { rows } = await a.db.query(`SELECT type FROM audit_event WHERE type IN ('auth.register', 'user.update')`);
      expect(rows).toHaveLength(2);
      // The login above is the only event since.
      expect((await a.db.query(`SELECT count(*)::int AS n FROM audit_event`)).rows[0].n).toBe(before + 1);
    });

    it('refuses to start when ADMIN_EMAIL names a demoted or disabled account, and changes nothing', async () => {
      const refusal = /Invalid configuration: ADMIN_EMAIL names an existing account that is not an enabled admin/;
      const state = async () =>
        (
          await a.db.query('SELECT role, disabled_at IS NOT NULL AS disabled, password_hash FROM users WHERE email = $1', [
            'chief.admin@chu-test.fr',
          ])
        ).rows[0];

      await a.db.query(`UPDATE users SET role = 'user' WHERE email = $1`, ['chief.admin@chu-test.fr']);
      const demoted = await state();
      await expect(startTestAppOn(a.databaseUrl, { ADMIN_EMAIL, ADMIN_PASSWORD: 'third admin passphrase' })).rejects.toThrow(
        new RegExp(`${refusal.source} \\(role user\\)`),
      );
      expect(await state()).toEqual(demoted);

      await a.db.query(`UPDATE users SET role = 'admin', disabled_at = now() WHERE email = $1`, ['chief.admin@chu-test.fr']);
      const disabled = await state();
      await expect(startTestAppOn(a.databaseUrl, { ADMIN_EMAIL, ADMIN_PASSWORD: 'third admin passphrase' })).rejects.toThrow(
        new RegExp(`${refusal.source} \\(disabled\\)`),
      );
      expect(await state()).toEqual(disabled);
      expect((await login(a, 'second admin passphrase')).status).toBe(401);
    });

    it('does not make an admin of an account someone registered with the address first', async () => {
      const t = await startTestApp();
      try {
        const email = 'it.admin@chu-test.fr';
        const reg = await t.request('POST', '/api/auth/register', {
          body: { email, password: 'registered first, 12+', firstname: 'Eve', surname: 'Early' },
        });
        expect(reg.status).toBe(201);
        const session = (await t.request('POST', '/api/auth/login', { body: { email, password: 'registered first, 12+' } })).body
          .accessToken as string;
        await expect(startTestAppOn(t.databaseUrl, { ADMIN_EMAIL: email, ADMIN_PASSWORD: 'the operators passphrase' })).rejects.toThrow(
          /ADMIN_EMAIL names an existing account that is not an enabled admin \(role user\)/,
        );
        expect((await t.request('GET', '/api/users', { token: session })).status).toBe(403);
        expect((await t.request('POST', '/api/auth/login', { body: { email, password: 'the operators passphrase' } })).status).toBe(401);
      } finally {
        await t.close();
      }
    });

    it('never writes the admin password to the log', async () => {
      expect(a.logs.join('\n')).not.toContain('first admin passphrase');
      expect(a.logs.some((l) => l.includes('admin account chief.admin@chu-test.fr created'))).toBe(true);
    });
  });
});
