// Staff single sign-on (docs/sso.md) against a real OpenID provider: oidc-provider (panva) started
// here on loopback as the hospital's IdP (test/support/oidc-idp.ts), its development login page
// driven over HTTP as a browser would, and back-channel logout sent by the provider itself.
import { storedEvents } from '../support/audit.js';
import { confirmLogout, CookieJar, hop, loginAtIdp, startTestIdp, type Hop, type TestIdp } from '../support/oidc-idp.js';
import { createUser, PASSWORD, startTestApp, startTestAppOnDatabase, type TestApp } from '../support/test-app.js';

const ADMIN = { email: 'admin@chu-test.fr', password: 'a long admin passphrase for tests' };
const ACCOUNTS = {
  alice: {
    email: 'alice.martin@chu-test.fr',
    given_name: 'Alice',
    family_name: 'Martin',
    groups: ['hospiai', 'hospiai-auditeurs'],
    SubjectNameID: '810012345678',
  },
  bob: { email: 'bob.durand@chu-test.fr', given_name: 'Bob', family_name: 'Durand', groups: ['radiologie'] },
  carol: { email: 'carol@ailleurs.fr', given_name: 'Carol', family_name: 'Petit', groups: ['hospiai'] },
  dave: { email: 'dave.leroy@chu-test.fr', given_name: 'Dave', family_name: 'Leroy', groups: ['hospiai'] },
  eve: { email: 'eve.local@chu-test.fr', given_name: 'Eve', family_name: 'Local', groups: ['hospiai'] },
};

function sessionOf(jar: CookieJar, t: TestApp): { cookie: string; csrf: string; jwt: string } {
  const url = new URL(t.baseUrl);
  const jwt = jar.get(url, 'hospiai_session') ?? '';
  const csrf = jar.get(url, 'hospiai_csrf') ?? '';
  return { cookie: `hospiai_session=${jwt}; hospiai_csrf=${csrf}`, csrf, jwt };
}

function json(h: Hop): any {
  return JSON.parse(h.text);
}

describe('staff SSO with OpenID Connect (a real oidc-provider IdP)', () => {
  let idp: TestIdp;
  let t: TestApp;
  let env: Record<string, string>;
  let adminToken: string;

  beforeAll(async () => {
    idp = await startTestIdp({ providerId: 'chu', accounts: ACCOUNTS });
    env = {
      OIDC_ISSUER: idp.issuer,
      OIDC_PROVIDER_ID: 'chu',
      OIDC_DISPLAY_NAME: 'CHU Test',
      OIDC_CLIENT_ID: idp.clientId,
      OIDC_CLIENT_SECRET: idp.clientSecret,
      OIDC_SCOPES: 'openid email profile groups rpps',
      OIDC_ROLE_CLAIM: 'groups',
      OIDC_ROLE_MAP: 'hospiai-admins=admin,hospiai-auditeurs=auditor',
      OIDC_REQUIRED_GROUP: 'hospiai',
      OIDC_ALLOWED_DOMAINS: 'chu-test.fr',
      OIDC_PROFESSIONAL_ID_CLAIM: 'SubjectNameID',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
    };
    t = await startTestApp(env);
    await idp.attach(t.baseUrl);
    const admin = await t.request('POST', '/api/auth/login', { body: ADMIN });
    adminToken = admin.body.accessToken;
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await idp?.close();
  });

  it('lists the provider as a login button', async () => {
    const res = await t.request('GET', '/api/auth/oidc/providers');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      providers: [{ id: 'chu', name: 'CHU Test', label: 'Se connecter avec CHU Test', loginUrl: '/api/auth/oidc/chu/login' }],
      ssoOnly: false,
    });
  });

  it('starts with PKCE S256, state and nonce, kept in an HttpOnly SameSite=Lax cookie', async () => {
    const res = await hop(new CookieJar(), new URL('/api/auth/oidc/chu/login', t.baseUrl));
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(idp.issuer);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(location.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get('state')).toBeTruthy();
    expect(location.searchParams.get('nonce')).toBeTruthy();
    expect(location.searchParams.get('redirect_uri')).toBe(`${t.baseUrl}/api/auth/oidc/chu/callback`);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('hospiai_oidc='))!;
    expect(cookie).toMatch(/; Path=\/api\/auth\/oidc\/; Max-Age=600; SameSite=Lax; HttpOnly$/);
    // The cookie is sealed: none of the checks is readable in it.
    expect(cookie).not.toContain(location.searchParams.get('state'));
    expect((await t.request('GET', '/api/auth/oidc/nope/login')).status).toBe(404);
  });

  let aliceId: string;

  it('creates the account at the first login, with the mapped role, names, email and RPPS, and lands on /dashboard/tokens', async () => {
    const jar = new CookieJar();
    const callback = await loginAtIdp(jar, t.baseUrl, 'chu', 'alice');
    expect(callback.status).toBe(302);
    expect(callback.headers.get('location')).toBe('/dashboard/tokens');
    const s = sessionOf(jar, t);
    const me = await t.request('GET', '/api/users/me', { headers: { cookie: s.cookie } });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ email: 'alice.martin@chu-test.fr', name: 'Alice Martin', role: 'auditor' });
    aliceId = me.body.user.id;
    // The same session works as a bearer (the API flow).
    expect((await t.request('GET', '/api/users/me', { token: s.jwt })).status).toBe(200);
    // No password opens this account.
    const pw = await t.request('POST', '/api/auth/login', { body: { email: 'alice.martin@chu-test.fr', password: '!sso-only' } });
    expect(pw.status).toBe(401);

    const ids = await t.request('GET', `/api/users/${aliceId}/identities`, { token: adminToken });
    expect(ids.status).toBe(200);
    expect(ids.body.items).toEqual([
      expect.objectContaining({ provider: 'chu', issuer: idp.issuer, subject: 'alice', professionalId: '810012345678', linkedBy: null }),
    ]);

    const events = await storedEvents(t);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'auth.register',
        outcome: 'success',
        actorUserId: aliceId,
        details: expect.objectContaining({ source: 'oidc', provider: 'chu', subject: 'alice', role: 'auditor' }),
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'auth.login',
        outcome: 'success',
        actorUserId: aliceId,
        details: expect.objectContaining({ method: 'oidc', provider: 'chu', email: 'alice.martin@chu-test.fr' }),
      }),
    );
  });

  it('the API flow: mode=json answers the session as JSON', async () => {
    const callback = await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'alice', '?mode=json');
    expect(callback.status).toBe(200);
    const body = json(callback);
    expect(body).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600, user: { id: aliceId, role: 'auditor' } });
    expect((await t.request('GET', '/api/users/me', { token: body.accessToken })).body.user.id).toBe(aliceId);
  });

  it('a group change at the provider demotes at the next login, and the read:audit token stops validating for that scope', async () => {
    const jar = new CookieJar();
    await loginAtIdp(jar, t.baseUrl, 'chu', 'alice');
    const s = sessionOf(jar, t);
    const created = await t.request('POST', '/api/tokens', {
      token: s.jwt,
      body: { name: 'Serveur MCP audit', scopes: ['read:data', 'read:audit'], durationDays: 30 },
    });
    expect(created.status).toBe(201);
    const token = created.body.token as string;
    const before = await t.request('POST', '/api/mcp/validate', { token, body: { requiredScopes: ['read:audit'] } });
    expect(before.status).toBe(200);

    idp.accounts.set('alice', { ...ACCOUNTS.alice, groups: ['hospiai'] });
    const again = await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'alice', '?mode=json');
    expect(again.status).toBe(200);
    expect(json(again).user.role).toBe('user');

    const after = await t.request('POST', '/api/mcp/validate', { token, body: { requiredScopes: ['read:audit'] } });
    expect(after.status).toBe(403);
    expect(after.body.code).toBe('insufficient_scope');
    const stillData = await t.request('POST', '/api/mcp/validate', { token, body: { requiredScopes: ['read:data'] } });
    expect(stillData.status).toBe(200);
    expect(stillData.body.scopes).toEqual(['read:data']);

    expect(await storedEvents(t)).toContainEqual(
      expect.objectContaining({
        type: 'user.update',
        actorUserId: aliceId,
        details: expect.objectContaining({
          changed: ['role'],
          role: 'user',
          source: 'oidc',
          provider: 'chu',
          claim: 'groups',
          previousRole: 'auditor',
        }),
      }),
    );
    idp.accounts.set('alice', ACCOUNTS.alice);
  });

  it('refuses a person outside the required group, in French, audited with the reason', async () => {
    const api = await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'bob', '?mode=json');
    expect(api.status).toBe(403);
    expect(json(api)).toMatchObject({
      code: 'sso_refused',
      error: 'Connexion refusée : votre compte n’appartient pas au groupe autorisé à utiliser HospiAI.',
    });
    const page = await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'bob');
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/dashboard/login?sso=group');
    expect(page.headers.getSetCookie().some((c) => c.startsWith('hospiai_session='))).toBe(false);
    const { rows } = await t.db.query(`SELECT 1 FROM users WHERE email = $1`, [ACCOUNTS.bob.email]);
    expect(rows).toHaveLength(0);
    expect(await storedEvents(t)).toContainEqual(
      expect.objectContaining({
        type: 'auth.login',
        outcome: 'failure',
        details: expect.objectContaining({ method: 'oidc', provider: 'chu', reason: 'group', subject: 'bob' }),
      }),
    );
  });

  it('refuses an email outside the allowed domains', async () => {
    const api = await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'carol', '?mode=json');
    expect(api.status).toBe(403);
    expect(json(api).error).toBe('Connexion refusée : votre adresse e-mail n’appartient pas à un domaine autorisé.');
    expect(await storedEvents(t)).toContainEqual(
      expect.objectContaining({
        type: 'auth.login',
        outcome: 'failure',
        details: expect.objectContaining({ reason: 'domain', email: 'carol@ailleurs.fr' }),
      }),
    );
  });

  it.each([
    ['signature', 'signed by another key'],
    ['aud', 'for another audience'],
    ['nonce', 'with another nonce'],
  ] as const)('refuses an ID token with a wrong %s (%s): openid-client rejects it', async (tamper, _how) => {
    idp.tamper = tamper;
    try {
      const api = await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'dave', '?mode=json');
      expect(api.status).toBe(400);
      expect(json(api)).toMatchObject({
        code: 'sso_failed',
        error: 'Connexion refusée : la réponse du fournisseur d’identité n’a pas pu être vérifiée.',
      });
    } finally {
      idp.tamper = undefined;
    }
    const { rows } = await t.db.query(`SELECT 1 FROM users WHERE email = $1`, [ACCOUNTS.dave.email]);
    expect(rows).toHaveLength(0);
    const refused = (await storedEvents(t)).filter((e) => e.type === 'auth.login' && e.details.reason === 'invalid_response');
    expect(refused.at(-1)?.details).toMatchObject({ method: 'oidc', provider: 'chu', error: expect.any(String) });
  });

  it('the same login untampered goes through (the relay alone changes nothing)', async () => {
    const api = await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'dave', '?mode=json');
    expect(api.status).toBe(200);
    expect(json(api).user).toMatchObject({ email: ACCOUNTS.dave.email, role: 'user', name: 'Dave Leroy' });
  });

  it('an email matching a local account does not take it over, until an admin links them', async () => {
    const local = await createUser(t, { email: ACCOUNTS.eve.email });
    const refused = await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'eve', '?mode=json');
    expect(refused.status).toBe(403);
    expect(json(refused)).toMatchObject({ code: 'sso_refused', error: expect.stringContaining('un administrateur doit le relier') });
    expect((await t.request('GET', `/api/users/${local.id}/identities`, { token: adminToken })).body.items).toEqual([]);
    // The local password still opens the local account, and only it.
    expect((await t.request('POST', '/api/auth/login', { body: { email: local.email, password: PASSWORD } })).status).toBe(200);

    const link = await t.request('POST', `/api/users/${local.id}/identities`, {
      token: adminToken,
      body: { provider: 'chu', subject: 'eve' },
    });
    expect(link.status).toBe(201);
    expect(link.body.identity).toMatchObject({ provider: 'chu', subject: 'eve', issuer: idp.issuer });
    const again = await t.request('POST', `/api/users/${local.id}/identities`, {
      token: adminToken,
      body: { provider: 'chu', subject: 'eve' },
    });
    expect(again.status).toBe(409);
    // Only admins link; auditors and users may not.
    expect(
      (await t.request('POST', `/api/users/${local.id}/identities`, { token: local.token, body: { provider: 'chu', subject: 'x' } }))
        .status,
    ).toBe(403);

    const ok = await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'eve', '?mode=json');
    expect(ok.status).toBe(200);
    expect(json(ok).user.id).toBe(local.id);
  });

  it("RP-initiated logout, then the provider's back-channel logout ends the session", async () => {
    const jar = new CookieJar();
    await loginAtIdp(jar, t.baseUrl, 'chu', 'alice');
    const s = sessionOf(jar, t);
    const other = json(await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'alice', '?mode=json')).accessToken as string;
    expect((await t.request('GET', '/api/users/me', { token: s.jwt })).status).toBe(200);

    const out = await t.request('POST', '/api/auth/oidc/chu/logout', { headers: { cookie: s.cookie, 'x-csrf-token': s.csrf } });
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie().some((c) => c.startsWith('hospiai_session=;'))).toBe(true);
    const endSession = new URL(out.body.endSessionUrl);
    expect(endSession.origin).toBe(idp.issuer);
    expect(endSession.searchParams.get('client_id')).toBe(idp.clientId);

    const sent = idp.backchannel.length;
    const done = await confirmLogout(jar, out.body.endSessionUrl);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`${t.baseUrl}/dashboard/login?raison=logout`);
    expect(idp.backchannel.slice(sent)).toEqual(['success']);

    // Every session of the account ends, the bearer kept by an API client too.
    expect((await t.request('GET', '/api/users/me', { token: s.jwt })).status).toBe(401);
    expect((await t.request('GET', '/api/users/me', { token: other })).status).toBe(401);
    expect(await storedEvents(t)).toContainEqual(
      expect.objectContaining({
        type: 'auth.logout',
        outcome: 'success',
        actorUserId: aliceId,
        details: expect.objectContaining({ method: 'oidc_backchannel', provider: 'chu', changed: ['sessions'], subject: 'alice' }),
      }),
    );
    // A new login works again.
    expect((await loginAtIdp(new CookieJar(), t.baseUrl, 'chu', 'alice', '?mode=json')).status).toBe(200);
  });

  it('refuses a logout token that does not verify, audited', async () => {
    const fake = `${Buffer.from('{"alg":"RS256","kid":"idp-key-1"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({
        iss: idp.issuer,
        aud: idp.clientId,
        sub: 'alice',
        iat: Math.floor(Date.now() / 1000),
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      }),
    ).toString('base64url')}.c2lnbmF0dXJl`;
    const res = await fetch(`${t.baseUrl}/api/auth/oidc/chu/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: fake }).toString(),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'invalid_logout_token', error: 'Jeton de déconnexion invalide' });
    expect(await storedEvents(t)).toContainEqual(
      expect.objectContaining({
        type: 'auth.logout',
        outcome: 'failure',
        details: expect.objectContaining({ reason: 'invalid_logout_token' }),
      }),
    );
  });

  it('SSO_ONLY refuses local passwords (in French, audited) but keeps the break-glass admin', async () => {
    const local = await createUser(t);
    const only = await startTestAppOnDatabase(t.databaseUrl, { ...env, SSO_ONLY: 'true' });
    try {
      const refused = await only.request('POST', '/api/auth/login', { body: { email: local.email, password: PASSWORD } });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'sso_only',
        error: 'Connexion par mot de passe désactivée : connectez-vous avec le fournisseur d’identité de votre établissement.',
      });
      expect((await only.request('POST', '/api/auth/login', { body: ADMIN })).status).toBe(200);
      expect((await only.request('GET', '/api/auth/oidc/providers')).body.ssoOnly).toBe(true);
      expect(await storedEvents(only)).toContainEqual(
        expect.objectContaining({
          type: 'auth.login',
          outcome: 'failure',
          details: expect.objectContaining({ email: local.email, reason: 'sso_only' }),
        }),
      );
    } finally {
      await only.close();
    }
  });
});
