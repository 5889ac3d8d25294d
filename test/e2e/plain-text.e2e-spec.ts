// Emails and names are shown and logged by other programs (MCP servers get both from validate and
// introspection): one rule refuses line breaks and other control characters, bidirectional
// controls and invisible formatting characters (zero-width spaces and joiners, word joiners, soft
// hyphens, byte-order marks) in both, naming the field, and both are stored in Unicode NFC.
import { createUser, PASSWORD, startTestApp, uniqueEmail, type TestApp } from '../support/test-app.js';

const HOSTILE: [string, string][] = [
  ['a line break (quoted local part)', '\n'],
  ['a line separator', '\u2028'],
  ['a right-to-left override', '\u202E'],
  ['a zero-width space', '\u200B'],
  ['a zero-width joiner', '\u200D'],
  ['a word joiner', '\u2060'],
  ['a soft hyphen', '\u00AD'],
  ['a byte-order mark', '\uFEFF'],
];

describe('control and invisible characters in emails and names', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  const fieldsOf = (body: { fields?: { field: string }[] }) => new Set((body.fields ?? []).map((f) => f.field));

  it.each(HOSTILE)('register: an email with %s is 400 naming email, and no account is made', async (_what, c) => {
    const local = uniqueEmail('carol').split('@')[0];
    const email = c === '\n' ? `"${local}${c}x"@chu-test.fr` : `${local}${c}@chu-test.fr`;
    const res = await t.request('POST', '/api/auth/register', { body: { email, password: PASSWORD, firstname: 'Carol', surname: 'Roux' } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('validation_failed');
    expect(fieldsOf(res.body)).toEqual(new Set(['email']));
    const { rowCount } = await t.db.query('SELECT 1 FROM users WHERE email LIKE $1', [`%${local}%`]);
    expect(rowCount).toBe(0);
  });

  it.each(HOSTILE)('register and profile update: a name with %s is 400 naming the field', async (_what, c) => {
    const reg = await t.request('POST', '/api/auth/register', {
      body: { email: uniqueEmail(), password: PASSWORD, firstname: `Ma${c}rie`, surname: `Cu${c}rie` },
    });
    expect(reg.status).toBe(400);
    expect(fieldsOf(reg.body)).toEqual(new Set(['firstname', 'surname']));
    const u = await createUser(t);
    const patch = await t.request('PATCH', '/api/users/me', { token: u.token, body: { surname: `Cu${c}rie` } });
    expect(patch.status).toBe(400);
    expect(fieldsOf(patch.body)).toEqual(new Set(['surname']));
    const token = await t.request('POST', '/api/tokens', { token: u.token, body: { name: `Serveur${c}MCP`, scopes: ['read:data'], durationDays: 1 } });
    expect(token.status).toBe(400);
    expect(fieldsOf(token.body)).toEqual(new Set(['name']));
  });

  it('a failed login with such an email keeps none of its text in the audit event', async () => {
    const email = `carol\u202E${uniqueEmail('x')}`;
    const res = await t.request('POST', '/api/auth/login', { body: { email, password: PASSWORD } });
    expect(res.status).toBe(401);
    const { rows } = await t.db.query(`SELECT details FROM audit_event WHERE type = 'auth.login' AND request_id = $1`, [
      res.headers.get('x-request-id'),
    ]);
    expect(rows.map((r) => r.details)).toEqual([{ emailMalformed: true, reason: 'unknown_email' }]);
  });

  it('emails and names are stored in NFC: a decomposed é is one character, and logs in written either way', async () => {
    const local = uniqueEmail('elise').split('@')[0];
    const decomposed = `e\u0301${local}@chu-test.fr`;
    const composed = decomposed.normalize('NFC');
    expect(composed).not.toBe(decomposed);
    const res = await t.request('POST', '/api/auth/register', {
      body: { email: decomposed, password: PASSWORD, firstname: 'E\u0301lise', surname: 'Lefe\u0300vre' },
    });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ email: composed, firstname: '\u00C9lise', surname: 'Lef\u00E8vre' });
    const { rows } = await t.db.query('SELECT email, firstname, surname FROM users WHERE id = $1', [res.body.user.id]);
    expect(rows[0]).toEqual({ email: composed, firstname: '\u00C9lise', surname: 'Lef\u00E8vre' });
    for (const email of [composed, decomposed]) {
      expect((await t.request('POST', '/api/auth/login', { body: { email, password: PASSWORD } })).status).toBe(200);
    }
    // The same address written the other way is the same account.
    const again = await t.request('POST', '/api/auth/register', { body: { email: composed, password: PASSWORD, firstname: 'A', surname: 'B' } });
    expect(again.status).toBe(409);
  });

  it('ordinary names still pass: accents, apostrophes, hyphens, non-Latin scripts', async () => {
    for (const [firstname, surname] of [
      ['Zoë', "O'Brien-Núñez"],
      ['Анна', 'Иванова'],
      ['محمد', 'العلي'],
      ['美咲', '佐藤'],
    ]) {
      const res = await t.request('POST', '/api/auth/register', { body: { email: uniqueEmail(), password: PASSWORD, firstname, surname } });
      expect(res.status).toBe(201);
    }
  });
});
