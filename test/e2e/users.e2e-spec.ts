import { createUser, PASSWORD, startTestApp, uniqueEmail, type TestApp, type User as TestUser } from '../support/test-app.js';
import { cursorOf } from '../support/formats.js';

const USER_KEYS = ['createdAt', 'email', 'firstname', 'id', 'name', 'phoneNumber', 'profileCompletedAt', 'role', 'surname'];

describe('users', () => {
  let t: TestApp;
  let admin: TestUser;
  let auditor: TestUser;
  let user: TestUser;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
    auditor = await createUser(t, { role: 'auditor' });
    user = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  describe('GET /api/users/me', () => {
    it('answers 200 {user} for the caller', async () => {
      const res = await t.request('GET', '/api/users/me', { token: user.token });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(['user']);
      expect(Object.keys(res.body.user).sort()).toEqual(USER_KEYS);
      expect(res.body.user).toMatchObject({ id: user.id, email: user.email, role: 'user', name: 'Marie Curie' });
    });

    it('shows each role its own account', async () => {
      for (const u of [admin, auditor]) {
        const res = await t.request('GET', '/api/users/me', { token: u.token });
        expect(res.status).toBe(200);
        expect(res.body.user.id).toBe(u.id);
      }
      expect((await t.request('GET', '/api/users/me', { token: auditor.token })).body.user.role).toBe('auditor');
    });

    it('answers 401 without a session', async () => {
      const res = await t.request('GET', '/api/users/me');
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('unauthorized');
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    });
  });

  describe('PATCH /api/users/me', () => {
    it('updates the profile and sets profileCompletedAt once, the first time it is complete', async () => {
      const u = await createUser(t);
      const before = await t.request('GET', '/api/users/me', { token: u.token });
      expect(before.body.user.profileCompletedAt).toBeNull();

      const renamed = await t.request('PATCH', '/api/users/me', { token: u.token, body: { firstname: 'Irène', surname: 'Joliot-Curie' } });
      expect(renamed.status).toBe(200);
      expect(renamed.body.user).toMatchObject({
        firstname: 'Irène',
        surname: 'Joliot-Curie',
        name: 'Irène Joliot-Curie',
        profileCompletedAt: null,
      });

      const completed = await t.request('PATCH', '/api/users/me', { token: u.token, body: { phoneNumber: '+33 1 23 45 67 89' } });
      expect(completed.status).toBe(200);
      expect(completed.body.user.phoneNumber).toBe('+33 1 23 45 67 89');
      const completedAt = completed.body.user.profileCompletedAt;
      expect(typeof completedAt).toBe('string');
      expect(Number.isNaN(Date.parse(completedAt))).toBe(false);

      const later = await t.request('PATCH', '/api/users/me', {
        token: u.token,
        body: { firstname: 'Ève', phoneNumber: '01 98 76 54 32' },
      });
      expect(later.status).toBe(200);
      expect(later.body.user).toMatchObject({ firstname: 'Ève', phoneNumber: '01 98 76 54 32', profileCompletedAt: completedAt });

      const me = await t.request('GET', '/api/users/me', { token: u.token });
      expect(me.body.user).toMatchObject({ firstname: 'Ève', surname: 'Joliot-Curie', profileCompletedAt: completedAt });
      const { rows } = await t.db.query('SELECT profile_completed_at FROM users WHERE id = $1', [u.id]);
      expect((rows[0].profile_completed_at as Date).toISOString()).toBe(completedAt);
    });

    it('keeps profileCompletedAt of a profile complete at registration', async () => {
      const u = await createUser(t, { phoneNumber: '+33 6 12 34 56 78' });
      const me = await t.request('GET', '/api/users/me', { token: u.token });
      const completedAt = me.body.user.profileCompletedAt;
      expect(typeof completedAt).toBe('string');
      const res = await t.request('PATCH', '/api/users/me', { token: u.token, body: { surname: 'Curie-Skłodowska' } });
      expect(res.status).toBe(200);
      expect(res.body.user.profileCompletedAt).toBe(completedAt);
    });

    it('answers the unchanged user for an empty change', async () => {
      const res = await t.request('PATCH', '/api/users/me', { token: user.token, body: {} });
      expect(res.status).toBe(200);
      expect(res.body.user.id).toBe(user.id);
    });

    it('refuses a role or an email in the profile (400) and changes nothing', async () => {
      for (const body of [{ role: 'admin' }, { email: 'other@chu-test.fr' }, { disabled: true }]) {
        const res = await t.request('PATCH', '/api/users/me', { token: user.token, body });
        expect(res.status).toBe(400);
        expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual(Object.keys(body));
      }
      const { rows } = await t.db.query('SELECT role, email, disabled_at FROM users WHERE id = $1', [user.id]);
      expect(rows[0]).toEqual({ role: 'user', email: user.email, disabled_at: null });
    });

    it('refuses a bad phone number or an empty name, naming the field', async () => {
      const phone = await t.request('PATCH', '/api/users/me', { token: user.token, body: { phoneNumber: 'call me maybe' } });
      expect(phone.status).toBe(400);
      expect(phone.body.fields.map((f: { field: string }) => f.field)).toEqual(['phoneNumber']);
      const empty = await t.request('PATCH', '/api/users/me', { token: user.token, body: { firstname: '   ' } });
      expect(empty.status).toBe(400);
      expect(empty.body.fields.map((f: { field: string }) => f.field)).toEqual(['firstname']);
    });

    it.each([
      ['a line break', 'Marie\nAdmin'],
      ['a terminal escape', 'Marie\u001b[31m'],
      ['a bidirectional override', 'Marie\u202Eeiruc'],
    ])('refuses a name with %s (400 naming the field) and changes nothing', async (_what, value) => {
      const names = async () => (await t.db.query('SELECT firstname, surname FROM users WHERE id = $1', [user.id])).rows[0];
      const before = await names();
      for (const field of ['firstname', 'surname']) {
        const res = await t.request('PATCH', '/api/users/me', { token: user.token, body: { [field]: value } });
        expect(res.status).toBe(400);
        expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual([field]);
      }
      expect(await names()).toEqual(before);
    });

    // @IsOptional() would let null through to the NOT NULL column (a 500): UpdateProfileDto's
    // optional fields accept undefined only.
    it.each(['firstname', 'surname'])('refuses %s: null with 400 naming the field', async (field) => {
      const res = await t.request('PATCH', '/api/users/me', { token: user.token, body: { [field]: null } });
      expect(res.status).toBe(400);
      expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual([field]);
    });

    it('answers 401 without a session', async () => {
      expect((await t.request('PATCH', '/api/users/me', { body: { firstname: 'X' } })).status).toBe(401);
    });
  });

  describe('GET /api/users (admin)', () => {
    /** Every page of the list, walked with `limit`. */
    async function walk(limit: number): Promise<{ ids: string[]; pages: number }> {
      const ids: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res = await t.request('GET', `/api/users${query}`, { token: admin.token });
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(limit);
        ids.push(...res.body.items.map((i: { id: string }) => i.id));
        cursor = res.body.nextCursor;
        pages += 1;
        if (pages > 100) throw new Error('pagination does not end');
      } while (cursor);
      return { ids, pages };
    }

    it('lists users newest first, with whether each is disabled', async () => {
      const res = await t.request('GET', '/api/users', { token: admin.token });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['items', 'nextCursor']);
      expect(res.body.nextCursor).toBeNull();
      for (const item of res.body.items) {
        expect(Object.keys(item).sort()).toEqual([...USER_KEYS, 'disabled'].sort());
        expect(typeof item.disabled).toBe('boolean');
      }
      const created = res.body.items.map((i: { createdAt: string }) => Date.parse(i.createdAt));
      expect([...created].sort((a, b) => b - a)).toEqual(created);
      expect(res.body.items.map((i: { id: string }) => i.id)).toEqual(expect.arrayContaining([admin.id, auditor.id, user.id]));
    });

    it('walks every user with limit=2, without duplicates or gaps, also across equal creation times', async () => {
      const extra: TestUser[] = [];
      for (let i = 0; i < 7; i++) extra.push(await createUser(t));
      // Several accounts created in the same microsecond: the cursor must break ties by id.
      await t.db.query(`UPDATE users SET created_at = '2026-03-01T10:00:00.123456Z' WHERE id = ANY($1::uuid[])`, [
        extra.slice(0, 4).map((u) => u.id),
      ]);
      await t.db.query(`UPDATE users SET created_at = '2026-03-01T10:00:00.123457Z' WHERE id = $1`, [extra[4].id]);

      const { rows } = await t.db.query('SELECT id FROM users ORDER BY created_at DESC, id DESC');
      const expected = rows.map((r) => r.id as string);
      expect(expected.length).toBeGreaterThan(8);

      const { ids, pages } = await walk(2);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(expected);
      expect(pages).toBe(Math.ceil(expected.length / 2));

      const { ids: byThree } = await walk(3);
      expect(byThree).toEqual(expected);
    });

    it('gives the next page after a cursor made from the last item', async () => {
      const first = await t.request('GET', '/api/users?limit=1', { token: admin.token });
      expect(first.body.items).toHaveLength(1);
      expect(typeof first.body.nextCursor).toBe('string');
      const second = await t.request('GET', `/api/users?limit=1&cursor=${first.body.nextCursor}`, { token: admin.token });
      expect(second.status).toBe(200);
      expect(second.body.items).toHaveLength(1);
      expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    });

    it.each([
      ['not base64 at all', '!!!'],
      ['no separator', cursorOf('2026-03-01T10:00:00.000Z')],
      ['not a date', cursorOf('yesterday|6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6')],
      ['not an id', cursorOf('2026-03-01T10:00:00.000Z|42')],
      ['too long', 'A'.repeat(201)],
    ])('refuses a bad cursor (%s) with 400 naming cursor', async (_name, cursor) => {
      const res = await t.request('GET', `/api/users?cursor=${encodeURIComponent(cursor)}`, { token: admin.token });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual(['cursor']);
    });

    // Cursors that looser checks (Date.parse, /^[0-9a-f-]{36}$/) would pass on to PostgreSQL's
    // ::timestamptz and ::uuid casts, which refuse them (a 500): decodeCursor takes only its own form.
    it.each([
      ['a date PostgreSQL does not read', cursorOf('2026|6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6')],
      ['36 dashes as the id', cursorOf(`2026-03-01T10:00:00.000Z|${'-'.repeat(36)}`)],
    ])('refuses a forged cursor (%s) with 400 naming cursor', async (_name, cursor) => {
      const res = await t.request('GET', `/api/users?cursor=${encodeURIComponent(cursor)}`, { token: admin.token });
      expect(res.status).toBe(400);
      expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual(['cursor']);
    });

    it.each(['0', '201', '-1', '2.5', 'abc'])('refuses limit=%s with 400 naming limit', async (limit) => {
      const res = await t.request('GET', `/api/users?limit=${limit}`, { token: admin.token });
      expect(res.status).toBe(400);
      expect(res.body.fields.map((f: { field: string }) => f.field)).toContain('limit');
    });

    it('accepts limit=1 and limit=200', async () => {
      expect((await t.request('GET', '/api/users?limit=1', { token: admin.token })).body.items).toHaveLength(1);
      expect((await t.request('GET', '/api/users?limit=200', { token: admin.token })).status).toBe(200);
    });

    it('refuses an unknown query parameter', async () => {
      const res = await t.request('GET', '/api/users?role=admin', { token: admin.token });
      expect(res.status).toBe(400);
      expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual(['role']);
    });

    it('is forbidden to users and auditors (403), and needs a session (401)', async () => {
      for (const u of [user, auditor]) {
        const res = await t.request('GET', '/api/users', { token: u.token });
        expect(res.status).toBe(403);
        expect(res.body.code).toBe('forbidden');
      }
      expect((await t.request('GET', '/api/users')).status).toBe(401);
    });
  });

  describe('PATCH /api/users/:id (admin)', () => {
    it('changes the role, which takes effect on the existing session at once', async () => {
      const u = await createUser(t);
      expect((await t.request('GET', '/api/users', { token: u.token })).status).toBe(403);

      const res = await t.request('PATCH', `/api/users/${u.id}`, { token: admin.token, body: { role: 'admin' } });
      expect(res.status).toBe(200);
      expect(res.body.user).toMatchObject({ id: u.id, role: 'admin', disabled: false });
      expect((await t.request('GET', '/api/users', { token: u.token })).status).toBe(200);

      const back = await t.request('PATCH', `/api/users/${u.id}`, { token: admin.token, body: { role: 'auditor' } });
      expect(back.body.user.role).toBe('auditor');
      expect((await t.request('GET', '/api/users', { token: u.token })).status).toBe(403);
      const { rows } = await t.db.query('SELECT role FROM users WHERE id = $1', [u.id]);
      expect(rows[0].role).toBe('auditor');
    });

    it('disables an account: its existing session is refused at once and it cannot log in; enabling restores login', async () => {
      const u = await createUser(t);
      expect((await t.request('GET', '/api/users/me', { token: u.token })).status).toBe(200);

      const res = await t.request('PATCH', `/api/users/${u.id}`, { token: admin.token, body: { disabled: true } });
      expect(res.status).toBe(200);
      expect(res.body.user).toMatchObject({ id: u.id, disabled: true });
      const { rows } = await t.db.query('SELECT disabled_at FROM users WHERE id = $1', [u.id]);
      expect(rows[0].disabled_at).toBeInstanceOf(Date);

      expect((await t.request('GET', '/api/users/me', { token: u.token })).status).toBe(401);
      expect((await t.request('PATCH', '/api/users/me', { token: u.token, body: { firstname: 'X' } })).status).toBe(401);
      expect((await t.request('POST', '/api/auth/login', { body: { email: u.email, password: PASSWORD } })).status).toBe(401);

      const list = await t.request('GET', '/api/users?limit=200', { token: admin.token });
      expect(list.body.items.find((i: { id: string }) => i.id === u.id).disabled).toBe(true);

      const enabled = await t.request('PATCH', `/api/users/${u.id}`, { token: admin.token, body: { disabled: false } });
      expect(enabled.status).toBe(200);
      expect(enabled.body.user.disabled).toBe(false);
      expect((await t.request('POST', '/api/auth/login', { body: { email: u.email, password: PASSWORD } })).status).toBe(200);
    });

    it('does not let an admin demote or disable their own account (400)', async () => {
      for (const [body, field] of [
        [{ role: 'user' }, 'role'],
        [{ role: 'auditor' }, 'role'],
        [{ disabled: true }, 'disabled'],
      ] as const) {
        const res = await t.request('PATCH', `/api/users/${admin.id}`, { token: admin.token, body });
        expect(res.status).toBe(400);
        expect(res.body.code).toBe('validation_failed');
        expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual([field]);
      }
      const { rows } = await t.db.query('SELECT role, disabled_at FROM users WHERE id = $1', [admin.id]);
      expect(rows[0]).toEqual({ role: 'admin', disabled_at: null });
      expect((await t.request('GET', '/api/users', { token: admin.token })).status).toBe(200);
    });

    it('lets an admin keep their own role', async () => {
      const res = await t.request('PATCH', `/api/users/${admin.id}`, { token: admin.token, body: { role: 'admin', disabled: false } });
      expect(res.status).toBe(200);
      expect(res.body.user).toMatchObject({ id: admin.id, role: 'admin', disabled: false });
    });

    it('is forbidden to users and auditors (403), and changes nothing', async () => {
      for (const u of [user, auditor]) {
        const res = await t.request('PATCH', `/api/users/${u.id}`, { token: u.token, body: { role: 'admin' } });
        expect(res.status).toBe(403);
        expect(res.body.code).toBe('forbidden');
        const other = await t.request('PATCH', `/api/users/${admin.id}`, { token: u.token, body: { disabled: true } });
        expect(other.status).toBe(403);
      }
      const { rows } = await t.db.query('SELECT id, role, disabled_at FROM users WHERE id = ANY($1::uuid[]) ORDER BY role', [
        [user.id, auditor.id, admin.id],
      ]);
      expect(rows.map((r) => [r.id, r.role, r.disabled_at])).toEqual(
        expect.arrayContaining([
          [admin.id, 'admin', null],
          [auditor.id, 'auditor', null],
          [user.id, 'user', null],
        ]),
      );
    });

    it('answers 400 for an id that is not a UUID', async () => {
      const res = await t.request('PATCH', '/api/users/not-a-uuid', { token: admin.token, body: { role: 'user' } });
      expect(res.status).toBe(400);
      expect(res.body.fields).toEqual([{ field: 'id', message: 'id must be a UUID' }]);
    });

    it('answers 404 for an unknown UUID', async () => {
      const res = await t.request('PATCH', '/api/users/6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6', {
        token: admin.token,
        body: { role: 'user' },
      });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
    });

    // @IsOptional() would let role: null through to the NOT NULL column (a 500): AdminUpdateUserDto's
    // optional fields accept undefined only.
    it('refuses role: null with 400 naming role', async () => {
      const res = await t.request('PATCH', `/api/users/${user.id}`, { token: admin.token, body: { role: null } });
      expect(res.status).toBe(400);
      expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual(['role']);
    });

    it('refuses an unknown role, a non-boolean disabled or another field (400)', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ role: 'superadmin' }, 'role'],
        [{ disabled: 'true' }, 'disabled'],
        [{ email: 'x@chu-test.fr' }, 'email'],
      ];
      for (const [body, field] of cases) {
        const res = await t.request('PATCH', `/api/users/${user.id}`, { token: admin.token, body });
        expect(res.status).toBe(400);
        expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual([field]);
      }
      const { rows } = await t.db.query('SELECT role, disabled_at, email FROM users WHERE id = $1', [user.id]);
      expect(rows[0]).toEqual({ role: 'user', disabled_at: null, email: user.email });
    });
  });

  it('never answers a password hash', async () => {
    const list = await t.request('GET', '/api/users?limit=200', { token: admin.token });
    expect(list.text).not.toMatch(/argon2|password/i);
    const email = uniqueEmail('hash');
    const reg = await t.request('POST', '/api/auth/register', { body: { email, password: PASSWORD, firstname: 'A', surname: 'B' } });
    expect(reg.text).not.toMatch(/argon2|password/i);
  });
});
