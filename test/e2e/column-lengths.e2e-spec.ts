// Values longer than their column: validation refuses them with a 400 naming the field, before
// any query. A 33-character phone number (the column is varchar(32)), and names padded with
// variation selectors (U+FE0F), which class-validator's Length does not count but PostgreSQL
// does. And a value that validation lets through but the column does not hold is a 400, not a 500.
import { createUser, PASSWORD, startTestApp, uniqueEmail, type TestApp, type User } from '../support/test-app.js';

/** 33 characters: "+" and 32 digits. */
const PHONE_33 = `+${'3'.repeat(32)}`;
/** 32 characters: the longest phone number the column holds. */
const PHONE_32 = `+${'3'.repeat(31)}`;
/** 60 characters for class-validator, 120 for PostgreSQL. */
const NAME_120 = '\u263A\uFE0F'.repeat(60);
/** 100 characters for both. */
const NAME_100 = '\u263A\uFE0F'.repeat(50);

describe('values longer than their column', () => {
  let t: TestApp;
  let user: User;
  let admin: User;

  beforeAll(async () => {
    t = await startTestApp();
    user = await createUser(t);
    admin = await createUser(t, { role: 'admin' });
  });
  afterAll(async () => {
    await t.close();
  });

  const register = (fields: Record<string, unknown>) =>
    t.request('POST', '/api/auth/register', {
      body: { email: uniqueEmail('long'), password: PASSWORD, firstname: 'Marie', surname: 'Curie', ...fields },
    });

  const expectRefused = (res: { status: number; body: any; text: string }, field: string, message?: string): void => {
    expect([res.status, res.text]).toEqual([400, expect.any(String)]);
    expect(res.body).toEqual({
      error: expect.stringMatching(/^Invalid request: /),
      code: 'validation_failed',
      requestId: expect.any(String),
      fields: [{ field, message: message ?? expect.any(String) }],
    });
  };

  const noServerError = (): void => {
    expect(t.logs.filter((l) => l.includes('"request failed"'))).toEqual([]);
  };

  describe('phone numbers', () => {
    const PHONE_MESSAGE = 'phoneNumber must be a phone number of 6 to 32 characters (digits, spaces, + ( ) . -)';

    it('POST /api/auth/register refuses 33 characters with 400, and creates no account', async () => {
      const email = uniqueEmail('phone33');
      const res = await t.request('POST', '/api/auth/register', {
        body: { email, password: PASSWORD, firstname: 'Marie', surname: 'Curie', phoneNumber: PHONE_33 },
      });
      expectRefused(res, 'phoneNumber', PHONE_MESSAGE);
      expect((await t.db.query(`SELECT 1 FROM users WHERE email = $1`, [email])).rowCount).toBe(0);
      noServerError();
    });

    it('PATCH /api/users/me refuses 33 characters with 400, and keeps the stored number', async () => {
      const res = await t.request('PATCH', '/api/users/me', { token: user.token, body: { phoneNumber: PHONE_33 } });
      expectRefused(res, 'phoneNumber', PHONE_MESSAGE);
      const { rows } = await t.db.query(`SELECT phone_number FROM users WHERE id = $1`, [user.id]);
      expect(rows).toEqual([{ phone_number: null }]);
      noServerError();
    });

    it('32 characters still fit, at registration and in an update', async () => {
      const reg = await register({ phoneNumber: PHONE_32 });
      expect([reg.status, reg.body.user?.phoneNumber]).toEqual([201, PHONE_32]);
      const upd = await t.request('PATCH', '/api/users/me', { token: user.token, body: { phoneNumber: `0${'1'.repeat(31)}` } });
      expect([upd.status, upd.body.user?.phoneNumber]).toEqual([200, `0${'1'.repeat(31)}`]);
    });
  });

  describe('names padded with variation selectors', () => {
    it.each(['firstname', 'surname'])('POST /api/auth/register refuses a %s of 120 characters with 400', async (field) => {
      expectRefused(await register({ [field]: NAME_120 }), field, `${field} must be shorter than or equal to 100 characters`);
      noServerError();
    });

    it.each(['firstname', 'surname'])('PATCH /api/users/me refuses a %s of 120 characters with 400', async (field) => {
      const res = await t.request('PATCH', '/api/users/me', { token: user.token, body: { [field]: NAME_120 } });
      expectRefused(res, field);
      noServerError();
    });

    it('POST /api/tokens refuses a name of 120 characters with 400', async () => {
      const res = await t.request('POST', '/api/tokens', {
        token: user.token,
        body: { name: NAME_120, scopes: ['read:data'], durationDays: 30 },
      });
      expectRefused(res, 'name');
      expect((await t.db.query(`SELECT 1 FROM api_tokens WHERE user_id = $1`, [user.id])).rowCount).toBe(0);
      noServerError();
    });

    it('POST /api/mcp/clients refuses a name of 120 characters with 400', async () => {
      const res = await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: NAME_120 } });
      expectRefused(res, 'name');
      noServerError();
    });

    it('100 characters, selectors counted, still fit', async () => {
      const reg = await register({ firstname: NAME_100, surname: NAME_100 });
      expect([reg.status, reg.body.user?.firstname]).toEqual([201, NAME_100]);
      const token = await t.request('POST', '/api/tokens', {
        token: user.token,
        body: { name: NAME_100, scopes: ['read:data'], durationDays: 30 },
      });
      expect([token.status, token.body.name]).toEqual([201, NAME_100]);
      const client = await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: NAME_100 } });
      expect([client.status, client.body.name]).toEqual([201, NAME_100]);
    });

    it('a name too long in both counts gets one message', async () => {
      expectRefused(
        await register({ firstname: 'x'.repeat(101) }),
        'firstname',
        'firstname must be shorter than or equal to 100 characters',
      );
    });
  });
});

describe('a value too long for its column that validation let through', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
    // The column shrinks behind the validation's back: the request passes validation and the INSERT fails.
    await t.db.query(`ALTER TABLE users ALTER COLUMN surname TYPE varchar(5)`);
  });
  afterAll(async () => {
    await t.close();
  });

  it('is a 400 in the API error shape, not a 500', async () => {
    const email = uniqueEmail('truncated');
    const res = await t.request('POST', '/api/auth/register', {
      body: { email, password: PASSWORD, firstname: 'Marie', surname: 'Sklodowska' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'The request holds a value too long to be stored',
      code: 'validation_failed',
      requestId: res.headers.get('x-request-id'),
    });
    expect((await t.db.query(`SELECT 1 FROM users WHERE email = $1`, [email])).rowCount).toBe(0);
    expect(t.logs.filter((l) => l.includes('"request failed"'))).toEqual([]);
  });
});
