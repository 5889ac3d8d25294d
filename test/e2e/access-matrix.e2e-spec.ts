// The access-control matrix: every route of the running app (read from Nest's
// metadata, as the route snapshot is), called by each kind of caller, with the
// status expected. A route missing from MATRIX, or whose access rule no longer
// matches the one the row was written for, fails the test: a new route cannot
// be forgotten, and a change of access must be reviewed here too.
import { discoverRoutes, type RouteEntry } from '../support/routes.js';
import { createUser, PASSWORD, startTestApp, uniqueEmail, type TestApp } from '../support/test-app.js';

const CALLERS = ['anonymous', 'user', 'otherUser', 'auditor', 'admin', 'tokenWithScope', 'tokenWithoutScope', 'disabledUser'] as const;
type Caller = (typeof CALLERS)[number];
type Expected = Record<Caller, number>;

interface World {
  t: TestApp;
  credentials: Record<Caller, string | undefined>;
  user: { id: string; email: string };
  target: { id: string };
  /** A fresh API token of `user` (for routes that revoke or rotate it). */
  freshTokenOfUser(): Promise<string>;
}

interface Row {
  /** The access rule the row was written for (as in the route snapshot). */
  access: string;
  expect: Expected;
  /** The concrete request: path parameters filled in, a body. */
  request?: (w: World) => Promise<{ path?: string; body?: unknown }>;
}

/** Same status for every caller. */
const all = (status: number): Expected => Object.fromEntries(CALLERS.map((c) => [c, status])) as Expected;
/** Any logged-in person; API tokens and disabled accounts are not sessions. */
const sessions = (ok: number): Expected => ({ ...all(401), user: ok, otherUser: ok, auditor: ok, admin: ok });
/** The owner of the resource and admins; other people get 404, not 403 (docs/api.md, "API tokens"). */
const ownerOrAdmin = (ok: number): Expected => ({ ...all(401), user: ok, otherUser: 404, auditor: 404, admin: ok });
const adminOnly = (ok: number): Expected => ({ ...all(401), user: 403, otherUser: 403, auditor: 403, admin: ok });
/** Auditors, admins and tokens holding read:audit. */
const audit: Expected = { ...all(401), user: 403, otherUser: 403, auditor: 200, admin: 200, tokenWithScope: 200, tokenWithoutScope: 403 };

const SESSION = 'session(user|auditor|admin)';
const AUDIT = 'session(auditor|admin) or token(read:audit)';

const MATRIX: Record<string, Row> = {
  'GET /api/health': { access: 'public', expect: all(200) },
  'GET /api/health/ready': { access: 'public', expect: all(200) },
  'GET /metrics': { access: 'public', expect: all(200) },
  'POST /api/auth/register': {
    access: 'public',
    expect: all(201),
    request: async () => ({ body: { email: uniqueEmail('matrix'), password: PASSWORD, firstname: 'A', surname: 'B' } }),
  },
  'POST /api/auth/login': {
    access: 'public',
    expect: all(200),
    request: async (w) => ({ body: { email: w.user.email, password: PASSWORD } }),
  },
  // Public: the bearer is the API token being checked, not a caller's credential.
  'POST /api/mcp/validate': { access: 'public', expect: { ...all(401), tokenWithScope: 200, tokenWithoutScope: 200 } },
  'GET /api/users/me': { access: SESSION, expect: sessions(200) },
  'PATCH /api/users/me': { access: SESSION, expect: sessions(200), request: async () => ({ body: { firstname: 'Matrice' } }) },
  'GET /api/users': { access: 'session(admin)', expect: adminOnly(200) },
  'PATCH /api/users/:id': {
    access: 'session(admin)',
    expect: adminOnly(200),
    request: async (w) => ({ path: `/api/users/${w.target.id}`, body: { disabled: false } }),
  },
  'GET /api/tokens/scopes': { access: SESSION, expect: sessions(200) },
  'GET /api/tokens': { access: SESSION, expect: sessions(200) },
  'POST /api/tokens': {
    access: SESSION,
    expect: sessions(201),
    request: async () => ({ body: { name: 'matrice', scopes: ['read:data'], durationDays: 1 } }),
  },
  'GET /api/tokens/:id': {
    access: SESSION,
    expect: ownerOrAdmin(200),
    request: async (w) => ({ path: `/api/tokens/${await tokenIdOf(w)}` }),
  },
  'DELETE /api/tokens/:id': {
    access: SESSION,
    expect: ownerOrAdmin(204),
    request: async (w) => ({ path: `/api/tokens/${await tokenIdOf(w)}` }),
  },
  // Only the owner receives a token's text: an admin may revoke another's token, not rotate it.
  'POST /api/tokens/:id/rotate': {
    access: SESSION,
    expect: { ...ownerOrAdmin(201), admin: 403 },
    request: async (w) => ({ path: `/api/tokens/${await tokenIdOf(w)}/rotate`, body: {} }),
  },
  // A token's usage: its owner, auditors and admins; another user gets 404.
  'GET /api/tokens/:id/usage': {
    access: SESSION,
    expect: { ...ownerOrAdmin(200), auditor: 200 },
    request: async (w) => ({ path: `/api/tokens/${await tokenIdOf(w)}/usage` }),
  },
  // Only the owner may change a token: an admin may revoke another's token, not change it.
  'PATCH /api/tokens/:id': {
    access: SESSION,
    expect: { ...ownerOrAdmin(200), admin: 403 },
    request: async (w) => ({ path: `/api/tokens/${await tokenIdOf(w)}`, body: { name: 'renommé' } }),
  },
  'GET /api/admin/policies': { access: 'session(admin)', expect: adminOnly(200) },
  'PUT /api/admin/policies': {
    access: 'session(admin)',
    expect: adminOnly(200),
    request: async () => ({ body: { maxLifetimeDays: 365, restrictedScopes: {}, allowlistRequiredForWrite: false } }),
  },
  'GET /api/audit/events': { access: AUDIT, expect: audit },
  'GET /api/audit/events/export': { access: AUDIT, expect: audit },
  'GET /api/audit/stats': { access: AUDIT, expect: audit },
  'GET /api/audit/verify': { access: AUDIT, expect: audit },
  'GET /api/audit/checkpoints': { access: AUDIT, expect: audit },
  'GET /api/audit/checkpoints/public-key': { access: AUDIT, expect: audit },
  'POST /api/auth/logout': { access: SESSION, expect: sessions(204) },
  // The dashboard's pages and assets are static: the API behind them enforces access.
  'GET /dashboard': { access: 'public', expect: all(200) },
  'GET /dashboard/login': { access: 'public', expect: all(200) },
  'GET /dashboard/tokens': { access: 'public', expect: all(200) },
  'GET /dashboard/policies': { access: 'public', expect: all(200) },
  'GET /dashboard/audit': { access: 'public', expect: all(200) },
  'GET /dashboard/applications': { access: 'public', expect: all(200) },
  'GET /dashboard/assets/:file': { access: 'public', expect: all(200), request: async () => ({ path: '/dashboard/assets/dashboard.css' }) },
  // MCP clients: registered by admins; the introspection and the revocation stream take client
  // credentials (HTTP Basic), which none of these callers has.
  'GET /api/mcp/clients': { access: 'session(admin)', expect: adminOnly(200) },
  'POST /api/mcp/clients': { access: 'session(admin)', expect: adminOnly(201), request: async () => ({ body: { name: 'Serveur matrice' } }) },
  'DELETE /api/mcp/clients/:id': {
    access: 'session(admin)',
    expect: adminOnly(204),
    request: async (w) => {
      const r = await w.t.request('POST', '/api/mcp/clients', { token: w.credentials.admin, body: { name: 'Serveur à retirer' } });
      if (r.status !== 201) throw new Error(`client: ${r.status} ${r.text}`);
      return { path: `/api/mcp/clients/${r.body.id}` };
    },
  },
  'PATCH /api/mcp/clients/:id': {
    access: 'session(admin)',
    expect: adminOnly(200),
    request: async (w) => {
      const r = await w.t.request('POST', '/api/mcp/clients', { token: w.credentials.admin, body: { name: 'Serveur à renommer' } });
      if (r.status !== 201) throw new Error(`client: ${r.status} ${r.text}`);
      return { path: `/api/mcp/clients/${r.body.id}`, body: { name: 'Serveur renommé' } };
    },
  },
  // Webhooks: admins only.
  'GET /api/admin/webhooks': { access: 'session(admin)', expect: adminOnly(200) },
  'POST /api/admin/webhooks': {
    access: 'session(admin)',
    expect: adminOnly(201),
    request: async () => ({ body: { url: 'https://siem.chu-exemple.fr/hooks', eventTypes: ['token.revoked'] } }),
  },
  'GET /api/admin/webhooks/:id': {
    access: 'session(admin)',
    expect: adminOnly(200),
    request: async (w) => ({ path: `/api/admin/webhooks/${await webhookOf(w)}` }),
  },
  'PATCH /api/admin/webhooks/:id': {
    access: 'session(admin)',
    expect: adminOnly(200),
    request: async (w) => ({ path: `/api/admin/webhooks/${await webhookOf(w)}`, body: { enabled: false } }),
  },
  'DELETE /api/admin/webhooks/:id': {
    access: 'session(admin)',
    expect: adminOnly(204),
    request: async (w) => ({ path: `/api/admin/webhooks/${await webhookOf(w)}` }),
  },
  'GET /api/admin/webhooks/:id/deliveries': {
    access: 'session(admin)',
    expect: adminOnly(200),
    request: async (w) => ({ path: `/api/admin/webhooks/${await webhookOf(w)}/deliveries` }),
  },
  'POST /api/oauth/introspect': { access: 'public', expect: all(401) },
  // Single sign-on: this app has no identity provider configured, so a provider's routes answer 404
  // to whoever may reach them (test/e2e/sso.e2e-spec.ts runs them against a real provider).
  'GET /api/auth/oidc/providers': { access: 'public', expect: all(200) },
  'GET /api/auth/oidc/:provider/login': { access: 'public', expect: all(404), request: async () => ({ path: '/api/auth/oidc/chu/login' }) },
  'GET /api/auth/oidc/:provider/callback': { access: 'public', expect: all(404), request: async () => ({ path: '/api/auth/oidc/chu/callback' }) },
  'POST /api/auth/oidc/:provider/logout': { access: SESSION, expect: sessions(404), request: async () => ({ path: '/api/auth/oidc/chu/logout' }) },
  'POST /api/auth/oidc/:provider/backchannel-logout': {
    access: 'public',
    expect: all(404),
    request: async () => ({ path: '/api/auth/oidc/chu/backchannel-logout' }),
  },
  'GET /api/users/:id/identities': {
    access: 'session(auditor|admin)',
    expect: { ...all(401), user: 403, otherUser: 403, auditor: 200, admin: 200 },
    request: async (w) => ({ path: `/api/users/${w.target.id}/identities` }),
  },
  'POST /api/users/:id/identities': {
    access: 'session(admin)',
    expect: adminOnly(404),
    request: async (w) => ({ path: `/api/users/${w.target.id}/identities`, body: { provider: 'chu', subject: 'matrice' } }),
  },
  'GET /api/mcp/revocations': { access: 'public', expect: all(401) },
  // The OAuth authorization server (docs/mcp-oauth.md): public protocol endpoints, whoever calls.
  'GET /.well-known/oauth-authorization-server': { access: 'public', expect: all(200) },
  'GET /.well-known/openid-configuration': { access: 'public', expect: all(200) },
  'GET /oauth/jwks': { access: 'public', expect: all(200) },
  // No client: an error page, never a redirect.
  'GET /oauth/authorize': { access: 'public', expect: all(400) },
  'GET /oauth/authorize/:uid': { access: 'public', expect: all(400), request: async () => ({ path: '/oauth/authorize/inconnue' }) },
  'POST /oauth/token': { access: 'public', expect: all(400) },
  'POST /oauth/revoke': { access: 'public', expect: all(400) },
  'POST /oauth/register': {
    access: 'public',
    expect: all(201),
    request: async () => ({ body: { client_name: 'Agent matrice', redirect_uris: ['http://127.0.0.1:8765/cb'], token_endpoint_auth_method: 'none' } }),
  },
  // An interaction that does not exist (or whose cookie is missing): the expired page.
  'GET /oauth/interaction/:uid': { access: 'public', expect: all(400), request: async () => ({ path: '/oauth/interaction/inconnue' }) },
  'POST /oauth/interaction/:uid/login': { access: 'public', expect: all(400), request: async () => ({ path: '/oauth/interaction/inconnue/login', body: {} }) },
  'POST /oauth/interaction/:uid/consent': { access: 'public', expect: all(400), request: async () => ({ path: '/oauth/interaction/inconnue/consent', body: {} }) },
  'POST /oauth/interaction/:uid/abort': { access: 'public', expect: all(400), request: async () => ({ path: '/oauth/interaction/inconnue/abort', body: {} }) },
  'GET /api/oauth/grants': { access: SESSION, expect: sessions(200) },
  'DELETE /api/oauth/grants/:grantId': { access: SESSION, expect: sessions(404), request: async () => ({ path: '/api/oauth/grants/inconnue' }) },
};

/** A new webhook endpoint, registered by the admin. */
async function webhookOf(w: World): Promise<string> {
  const r = await w.t.request('POST', '/api/admin/webhooks', {
    token: w.credentials.admin,
    body: { url: 'https://siem.chu-exemple.fr/hooks', eventTypes: ['token.created'] },
  });
  if (r.status !== 201) throw new Error(`webhook: ${r.status} ${r.text}`);
  return r.body.id as string;
}

async function tokenIdOf(w: World): Promise<string> {
  const token = await w.freshTokenOfUser();
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')).jti as string;
}

describe('access-control matrix', () => {
  let t: TestApp;
  let routes: RouteEntry[];
  let world: World;

  beforeAll(async () => {
    t = await startTestApp();
    routes = discoverRoutes(t);
    const user = await createUser(t);
    const other = await createUser(t);
    const auditor = await createUser(t, { role: 'auditor' });
    const admin = await createUser(t, { role: 'admin' });
    const disabled = await createUser(t);
    const target = await createUser(t);
    const apiToken = async (session: string, scopes: string[]): Promise<string> => {
      const r = await t.request('POST', '/api/tokens', { token: session, body: { name: 'matrice', scopes, durationDays: 1 } });
      if (r.status !== 201) throw new Error(`token: ${r.status} ${r.text}`);
      return r.body.token as string;
    };
    const tokenWithScope = await apiToken(auditor.token, ['read:audit', 'read:data']);
    const tokenWithoutScope = await apiToken(auditor.token, ['read:data', 'write:data']);
    const off = await t.request('PATCH', `/api/users/${disabled.id}`, { token: admin.token, body: { disabled: true } });
    if (off.status !== 200) throw new Error(`disable: ${off.status} ${off.text}`);
    world = {
      t,
      user,
      target,
      credentials: {
        anonymous: undefined,
        user: user.token,
        otherUser: other.token,
        auditor: auditor.token,
        admin: admin.token,
        tokenWithScope,
        tokenWithoutScope,
        disabledUser: disabled.token,
      },
      freshTokenOfUser: () => apiToken(user.token, ['read:data']),
    };
  });
  afterAll(async () => {
    await t.close();
  });

  it('has a row for every route of the app, written for its current access rule, and none for a route that is gone', () => {
    const problems: string[] = [];
    for (const r of routes) {
      const key = `${r.method} ${r.path}`;
      const row = MATRIX[key];
      if (!row) problems.push(`${key} (${r.access}): no row in MATRIX: add the expected status for each caller`);
      else if (row.access !== r.access)
        problems.push(`${key}: access is now "${r.access}", the row was written for "${row.access}": review it`);
    }
    const live = new Set(routes.map((r) => `${r.method} ${r.path}`));
    for (const key of Object.keys(MATRIX)) if (!live.has(key)) problems.push(`${key}: in MATRIX but no such route`);
    expect(problems).toEqual([]);
  });

  it('answers each caller of each route with the expected status', async () => {
    const mismatches: string[] = [];
    let calls = 0;
    for (const r of routes) {
      const key = `${r.method} ${r.path}`;
      const row = MATRIX[key];
      if (!row) continue;
      for (const caller of CALLERS) {
        const { path, body } = (await row.request?.(world)) ?? {};
        const res = await t.request(r.method, path ?? r.path, {
          token: world.credentials[caller],
          ...(body !== undefined ? { body } : {}),
        });
        calls += 1;
        if (res.status !== row.expect[caller])
          mismatches.push(`${key} as ${caller}: ${res.status}, expected ${row.expect[caller]} (${res.text.slice(0, 120)})`);
        if (res.status === 401 || res.status === 403) expect(typeof res.body.error).toBe('string');
      }
    }
    process.stdout.write(`\naccess matrix: ${routes.length} routes × ${CALLERS.length} callers = ${calls} calls\n`);
    expect(mismatches).toEqual([]);
  });
});
