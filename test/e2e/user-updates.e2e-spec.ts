// Concurrent changes of one user (PATCH /api/users/me and PATCH /api/users/:id):
// each keeps the others', so that a disabled account stays disabled and its
// tokens stay refused, whatever ran at the same time.
import { DataSource, type EntitySubscriberInterface } from 'typeorm';
import { User } from '../../src/users/user.entity.js';
import { UsersService } from '../../src/users/users.service.js';
import { createToken } from '../support/mcp.js';
import { createUser, startTestApp, type TestApp, type User as TestUser } from '../support/test-app.js';

describe('concurrent changes of a user', () => {
  let t: TestApp;
  let users: UsersService;
  let dataSource: DataSource;
  let admin: TestUser;
  let otherAdmin: TestUser;

  beforeAll(async () => {
    t = await startTestApp();
    users = t.app.get(UsersService);
    dataSource = t.app.get(DataSource);
    admin = await createUser(t, { role: 'admin' });
    otherAdmin = await createUser(t, { role: 'admin' });
  });
  afterAll(async () => {
    await t.close();
  });

  /**
   * Forces an interleaving: the first time the service reads user `id` (whichever way it reads it),
   * `during` runs before that read's caller goes on.
   */
  function onFirstRead(id: string, during: () => Promise<void>): () => void {
    let armed = true;
    const subscriber: EntitySubscriberInterface<User> = {
      listenTo: () => User,
      afterLoad: async (entity: User) => {
        if (!armed || entity.id !== id) return;
        armed = false;
        await during();
      },
    };
    dataSource.subscribers.push(subscriber);
    return () => {
      const i = dataSource.subscribers.indexOf(subscriber);
      if (i >= 0) dataSource.subscribers.splice(i, 1);
    };
  }

  /** Resolves once `p` has settled, or once a session of the test database waits for a lock (`p` is then held by the first change). */
  async function settledOrWaitingForLock(p: Promise<unknown>): Promise<void> {
    let settled = false;
    void p.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (;;) {
      if (settled) return;
      const { rows } = await t.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (rows[0].n > 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Runs `first`; after its first read of user `id`, starts `second` and lets `first` go on once `second` is done or blocked. */
  async function interleave<A, B>(id: string, first: () => Promise<A>, second: () => Promise<B>): Promise<[A, B]> {
    let secondRun: Promise<B> | undefined;
    const remove = onFirstRead(id, async () => {
      secondRun = second();
      await settledOrWaitingForLock(secondRun);
    });
    try {
      const a = await first();
      if (!secondRun) throw new Error('the first change never read the user');
      return [a, await secondRun];
    } finally {
      remove();
    }
  }

  const validate = (token: string) => t.request('POST', '/api/mcp/validate', { token });
  const row = async (id: string) =>
    (
      await t.db.query<{ firstname: string; role: string; disabled_at: Date | null }>(
        `SELECT firstname, role, disabled_at FROM users WHERE id = $1`,
        [id],
      )
    ).rows[0];

  it('a profile update that read the user before an admin disabled it does not enable it again', async () => {
    const user = await createUser(t);
    const apiToken = await createToken(t, user.token);
    expect((await validate(apiToken.token)).status).toBe(200);

    const [profile, disable] = await interleave(
      user.id,
      () => users.updateProfile(user.id, { firstname: 'Irène' }),
      () => users.adminUpdate(admin.id, user.id, { disabled: true }),
    );
    expect(profile.changed).toEqual(['firstname']);
    expect(disable.changed).toEqual(['disabled']);

    const stored = await row(user.id);
    expect(stored.firstname).toBe('Irène');
    expect(stored.disabled_at).not.toBeNull();
    const res = await validate(apiToken.token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'Token révoqué ou inexistant', code: 'token_revoked' });
    expect((await t.request('GET', '/api/users/me', { token: user.token })).status).toBe(401);
  });

  it.each([
    ['role, then disabled', { role: 'auditor' as const }, { disabled: true }],
    ['disabled, then role', { disabled: true }, { role: 'auditor' as const }],
  ])('two admins changing one user keep both changes (%s)', async (_, firstChange, secondChange) => {
    const user = await createUser(t);
    const apiToken = await createToken(t, user.token);
    expect((await validate(apiToken.token)).status).toBe(200);

    const [first, second] = await interleave(
      user.id,
      () => users.adminUpdate(admin.id, user.id, firstChange),
      () => users.adminUpdate(otherAdmin.id, user.id, secondChange),
    );
    expect([...first.changed, ...second.changed].sort()).toEqual(['disabled', 'role']);

    const stored = await row(user.id);
    expect(stored.role).toBe('auditor');
    expect(stored.disabled_at).not.toBeNull();
    // What the later of the two answers shows is the user with both changes.
    const later = [first.user, second.user].find((u) => u.role === 'auditor' && u.disabledAt !== null);
    expect(later).toBeDefined();
    expect((await validate(apiToken.token)).status).toBe(401);
  });

  it('a change that changes nothing writes nothing and publishes no revocation', async () => {
    const user = await createUser(t);
    const before = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM revocation_event`);
    const res = await t.request('PATCH', `/api/users/${user.id}`, { token: admin.token, body: { role: 'user', disabled: false } });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: user.id, role: 'user', disabled: false });
    const after = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM revocation_event`);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('PATCH /api/users/:id still answers 404 for an unknown user', async () => {
    const res = await t.request('PATCH', '/api/users/00000000-0000-4000-8000-000000000000', {
      token: admin.token,
      body: { disabled: true },
    });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('not_found');
  });

  // Last: it leaves one of the two admins demoted.
  it('two admins demoting each other at the same time leave one enabled admin, never none', async () => {
    const admins = async () =>
      (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE role = 'admin' AND disabled_at IS NULL`)).rows[0].n;
    expect(await admins()).toBe(2);

    const settle = <T>(p: Promise<T>) =>
      p.then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      );
    const [first, second] = await interleave(
      otherAdmin.id,
      () => settle(users.adminUpdate(admin.id, otherAdmin.id, { role: 'user' })),
      () => settle(users.adminUpdate(otherAdmin.id, admin.id, { disabled: true })),
    );
    expect(await admins()).toBe(1);
    expect(first).toMatchObject({ status: 'fulfilled', value: { changed: ['role'] } });
    expect(second).toMatchObject({ status: 'rejected', reason: { status: 400, message: expect.stringContaining('last enabled admin') } });
    expect((await row(admin.id)).disabled_at).toBeNull();
    expect((await t.request('GET', '/api/users', { token: admin.token })).status).toBe(200);
  });
});
