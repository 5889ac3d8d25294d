import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('registers, logs in and reads /api/users/me', async () => {
    const u = await createUser(t);
    const me = await t.request('GET', '/api/users/me', { token: u.token });
    expect(me.status).toBe(200);
    expect(me.body.user.email).toBe(u.email);
  });
});
