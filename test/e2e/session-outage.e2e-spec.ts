// While the database cannot be reached, a request authenticated by a session (the dashboard's
// cookie, or a session bearer) answers 503 "Service indisponible" with Retry-After, as the rest of
// the API does, and not 401: a 401 sends the dashboard back to its login page. A session that is
// not valid is still 401. The outage is real: the app reaches PostgreSQL through a TCP relay that
// the test cuts (open connections dropped, new ones refused) and then restores.
import { PgRelay } from '../support/pg-relay.js';
import { createTestDatabase, createUser, PASSWORD, startTestAppOnDatabase, type TestApp } from '../support/test-app.js';

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

describe('session requests while the database is down', () => {
  let t: TestApp;
  let relay: PgRelay;
  let dropDatabase: () => Promise<void>;
  let bearer: string;
  let cookie: string;
  let csrf: string;

  beforeAll(async () => {
    const database = await createTestDatabase();
    dropDatabase = database.drop;
    const relayed = await PgRelay.start(database.url);
    relay = relayed.relay;
    t = await startTestAppOnDatabase(relayed.url);
    const user = await createUser(t);
    bearer = user.token;
    const login = await t.request('POST', '/api/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(login.status).toBe(200);
    const cookies = Object.fromEntries(
      login.headers.getSetCookie().map((line) => {
        const pair = line.split(';')[0];
        return [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      }),
    );
    csrf = cookies.hospiai_csrf;
    cookie = `hospiai_session=${cookies.hospiai_session}; hospiai_csrf=${csrf}`;
  });
  afterAll(async () => {
    await relay?.open();
    await t?.close();
    await relay?.cut();
    await dropDatabase?.();
  });

  const me = (headers: Record<string, string>) => t.request('GET', '/api/users/me', { headers });

  const expectUnavailable = (res: Answer): void => {
    expect([res.status, res.body]).toEqual([
      503,
      { error: 'Service indisponible', code: 'service_unavailable', requestId: res.headers.get('x-request-id') },
    ]);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('www-authenticate')).toBeNull();
  };

  const expectUnauthorized = (res: Answer): void => {
    expect([res.status, res.body]).toEqual([
      401,
      { error: 'Authentication required', code: 'unauthorized', requestId: res.headers.get('x-request-id') },
    ]);
  };

  it('before the outage, the cookie and the bearer work', async () => {
    expect((await me({ cookie })).status).toBe(200);
    expect((await me({ authorization: `Bearer ${bearer}` })).status).toBe(200);
  });

  describe('during the outage', () => {
    beforeAll(async () => {
      await relay.cut();
    });

    it('the session cookie gets 503 with Retry-After, not 401', async () => {
      expectUnavailable(await me({ cookie }));
    });

    it('a session bearer gets 503 with Retry-After, not 401', async () => {
      expectUnavailable(await me({ authorization: `Bearer ${bearer}` }));
    });

    it('a state-changing request with the cookie and its CSRF header gets 503', async () => {
      expectUnavailable(
        await t.request('PATCH', '/api/users/me', { body: { firstname: 'Irène' }, headers: { cookie, 'x-csrf-token': csrf } }),
      );
    });

    it('a bad session cookie or bearer is still 401', async () => {
      expectUnauthorized(await me({ cookie: `hospiai_session=${bearer.slice(0, -4)}abcd` }));
      expectUnauthorized(await me({ authorization: 'Bearer not.a.jwt' }));
      expectUnauthorized(await me({}));
    });

    it('the 503 is not logged as an unexpected error', () => {
      expect(t.logs.filter((l) => l.includes('"request failed"'))).toEqual([]);
    });
  });

  describe('once the database is back', () => {
    beforeAll(async () => {
      await relay.open();
    });

    it('the same cookie works again, without logging in again', async () => {
      expect((await me({ cookie })).status).toBe(200);
    });
  });
});
