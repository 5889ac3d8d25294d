import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type OidcProviderConfig } from '../config/config.js';
import { admit, claimValues, namesOf, roleFromClaims, trustedForEmail } from './claims.js';
import { TransactionSealer } from './login-transaction.js';
import { ssoButtons } from './sso-buttons.js';
import { safeNext } from './sso.service.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes-0123456789';
const DATA_DIR = mkdtempSync(join(tmpdir(), 'hospiai-sso-spec-'));

function provider(env: Record<string, string> = {}): OidcProviderConfig {
  const config = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: SECRET,
    DATA_DIR,
    OIDC_ISSUER: 'https://sso.chu-exemple.fr/realms/chu',
    OIDC_CLIENT_ID: 'hospiai',
    OIDC_CLIENT_SECRET: 'not-shown',
    OIDC_PROVIDER_ID: 'chu',
    ...env,
  });
  return config.sso.providers[0];
}

describe('claims', () => {
  it('reads a claim by name or dotted path, as an array or a list in a string', () => {
    expect(claimValues({ groups: ['a', 'b', 3] }, 'groups')).toEqual(['a', 'b']);
    expect(claimValues({ realm_access: { roles: ['admin'] } }, 'realm_access.roles')).toEqual(['admin']);
    expect(claimValues({ roles: 'x y,z' }, 'roles')).toEqual(['x', 'y', 'z']);
    expect(claimValues({ 'a.b': ['flat'] }, 'a.b')).toEqual(['flat']);
    expect(claimValues({}, 'groups')).toEqual([]);
  });

  it('maps the claim to the highest role matched, else the default (none refuses)', () => {
    const p = provider({ OIDC_ROLE_MAP: 'hospiai-admins=admin,dsi=auditor' });
    expect(roleFromClaims(p, { groups: ['dsi', 'hospiai-admins'] })).toBe('admin');
    expect(roleFromClaims(p, { groups: ['dsi'] })).toBe('auditor');
    expect(roleFromClaims(p, { groups: ['autre'] })).toBe('user');
    // A claim value such as "__proto__" or "constructor" maps to nothing.
    expect(roleFromClaims(p, { groups: ['__proto__', 'constructor', 'toString'] })).toBe('user');
    expect(roleFromClaims(provider({ OIDC_DEFAULT_ROLE: 'none' }), { groups: [] })).toBeNull();
    expect(roleFromClaims(provider({ OIDC_ROLE_MAP: '{"g1": "auditor"}' }), { groups: 'g1' })).toBe('auditor');
  });

  it('admits by email domain and required group, with the reason of a refusal', () => {
    const p = provider({ OIDC_ALLOWED_DOMAINS: 'chu-exemple.fr', OIDC_REQUIRED_GROUP: 'hospiai' });
    expect(admit(p, { email: 'A.B@CHU-exemple.fr', groups: ['hospiai'] })).toEqual({ email: 'a.b@chu-exemple.fr', role: 'user' });
    expect(admit(p, { email: 'a@ailleurs.fr', groups: ['hospiai'] })).toEqual({ refused: 'domain' });
    expect(admit(p, { email: 'a@chu-exemple.fr', groups: ['autre'] })).toEqual({ refused: 'group' });
    expect(admit(p, { groups: ['hospiai'] })).toEqual({ refused: 'no_email' });
    expect(admit(p, { email: 'pas une adresse', groups: ['hospiai'] })).toEqual({ refused: 'no_email' });
  });

  it('trusts an email for a takeover only in a trusted domain and when not said unverified', () => {
    const p = provider({ OIDC_TRUSTED_EMAIL_DOMAINS: 'chu-exemple.fr' });
    expect(trustedForEmail(p, { email_verified: true }, 'a@chu-exemple.fr')).toBe(true);
    expect(trustedForEmail(p, { email_verified: false }, 'a@chu-exemple.fr')).toBe(false);
    expect(trustedForEmail(p, { email_verified: true }, 'a@ailleurs.fr')).toBe(false);
    expect(trustedForEmail(provider(), { email_verified: true }, 'a@chu-exemple.fr')).toBe(false);
  });

  it('takes names from the claims, without control or invisible characters', () => {
    expect(namesOf({ given_name: 'Marie', family_name: 'Curie' }, 'm@x.fr')).toEqual({ firstname: 'Marie', surname: 'Curie' });
    expect(namesOf({ name: 'Ada King Lovelace' }, 'a@x.fr')).toEqual({ firstname: 'Ada', surname: 'King Lovelace' });
    expect(namesOf({ given_name: 'Ev\u202eil\n' }, 'eve@x.fr')).toEqual({ firstname: 'Evil', surname: '-' });
    expect(namesOf({}, 'jean.dupont@x.fr')).toEqual({ firstname: 'jean.dupont', surname: '-' });
  });
});

describe('SSO settings', () => {
  const base = { NODE_ENV: 'test', JWT_SECRET: SECRET, DATA_DIR };

  it('reads one provider from OIDC_* and more from OIDC_PROVIDERS, and makes the buttons', () => {
    const config = loadConfig({
      ...base,
      OIDC_ISSUER: 'https://sso.chu-exemple.fr/realms/chu',
      OIDC_CLIENT_ID: 'hospiai',
      OIDC_PROVIDER_ID: 'chu',
      OIDC_DISPLAY_NAME: 'CHU Exemple',
      OIDC_PROVIDERS: JSON.stringify([
        {
          id: 'psc',
          displayName: 'Pro Santé Connect',
          issuer: 'https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet',
          clientId: 'x',
          clientSecret: 's',
          professionalIdClaim: 'SubjectNameID',
          allowedDomains: [],
        },
      ]),
    });
    expect(config.sso.providers.map((p) => [p.id, p.scopes.join(' '), p.loopbackIssuer])).toEqual([
      ['chu', 'openid email profile', false],
      ['psc', 'openid email profile', false],
    ]);
    expect(ssoButtons(config.sso, '/dashboard/audit')).toEqual([
      {
        id: 'chu',
        name: 'CHU Exemple',
        label: 'Se connecter avec CHU Exemple',
        loginUrl: '/api/auth/oidc/chu/login?next=%2Fdashboard%2Faudit',
      },
      {
        id: 'psc',
        name: 'Pro Santé Connect',
        label: 'Se connecter avec Pro Santé Connect',
        loginUrl: '/api/auth/oidc/psc/login?next=%2Fdashboard%2Faudit',
      },
    ]);
  });

  it.each([
    [
      { OIDC_ISSUER: 'http://sso.chu-exemple.fr', OIDC_CLIENT_ID: 'x' },
      /OIDC_ISSUER must be an https:\/\/ URL \(plain http only on a loopback address\)/,
    ],
    [{ OIDC_ISSUER: 'https://sso.chu-exemple.fr' }, /OIDC_CLIENT_ID is required/],
    [{ OIDC_CLIENT_ID: 'x' }, /OIDC_CLIENT_ID needs OIDC_ISSUER/],
    [{ OIDC_ISSUER: 'https://a.fr', OIDC_CLIENT_ID: 'x', OIDC_ROLE_MAP: 'admins=root' }, /OIDC_ROLE_MAP maps "admins" to "root"/],
    [{ OIDC_ISSUER: 'https://a.fr', OIDC_CLIENT_ID: 'x', OIDC_PROVIDER_ID: 'Bad Id' }, /OIDC_PROVIDER_ID must be/],
    [{ OIDC_PROVIDERS: '{"id": 1}' }, /OIDC_PROVIDERS must be a JSON array/],
    [{ OIDC_PROVIDERS: '[{"issuer": "https://a.fr"}]' }, /OIDC_PROVIDERS\[0\]\.clientId is required/],
    [{ SSO_ONLY: 'true' }, /SSO_ONLY needs a provider/],
    [{ OIDC_ISSUER: 'https://a.fr', OIDC_CLIENT_ID: 'x', SSO_ONLY: 'true' }, /SSO_ONLY needs the break-glass admin/],
    [
      { OIDC_ISSUER: 'https://a.fr', OIDC_CLIENT_ID: 'x', OIDC_CLIENT_PRIVATE_KEY: 'secret-not-a-key' },
      /OIDC_CLIENT_PRIVATE_KEY must be an RSA, EC or Ed25519 private key/,
    ],
  ])('refuses %j with a clear error', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });

  it('never quotes a secret back', () => {
    let error = '';
    try {
      loadConfig({
        ...base,
        OIDC_ISSUER: 'https://a.fr',
        OIDC_CLIENT_ID: 'x',
        OIDC_CLIENT_SECRET: 'top-secret-value',
        OIDC_CLIENT_PRIVATE_KEY: 'top-secret-key',
      });
    } catch (err) {
      error = (err as Error).message;
    }
    expect(error).toMatch(/choose one client authentication/);
    expect(error).not.toContain('top-secret');
  });

  it('allows plain http only to a loopback issuer', () => {
    const config = loadConfig({ ...base, OIDC_ISSUER: 'http://127.0.0.1:8080', OIDC_CLIENT_ID: 'x' });
    expect(config.sso.providers[0].loopbackIssuer).toBe(true);
  });
});

describe('login transaction cookie', () => {
  it('opens only what it sealed, under its key, before it expires', () => {
    const sealer = new TransactionSealer(Buffer.from(SECRET));
    const t = { p: 'chu', state: 's', nonce: 'n', verifier: 'v', next: '/dashboard/tokens', exp: Math.floor(Date.now() / 1000) + 60 };
    const sealed = sealer.seal(t);
    expect(sealer.open(sealed)).toEqual(t);
    expect(sealed).not.toContain('dashboard');
    expect(new TransactionSealer(Buffer.from(`${SECRET}-other`)).open(sealed)).toBeUndefined();
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === 'A' ? 'B' : 'A'}${sealed.at(-1)}`;
    expect(sealer.open(flipped)).toBeUndefined();
    expect(sealer.open(sealed, t.exp + 1)).toBeUndefined();
    expect(sealer.open('garbage')).toBeUndefined();
  });

  it('lands only on a dashboard page', () => {
    expect(safeNext('/dashboard/audit')).toBe('/dashboard/audit');
    expect(safeNext('https://evil.example/')).toBe('/dashboard/tokens');
    expect(safeNext('//evil.example/dashboard/x')).toBe('/dashboard/tokens');
    expect(safeNext('/dashboard/login')).toBe('/dashboard/tokens');
  });
});
