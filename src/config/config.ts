import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface AppConfig {
  readonly nodeEnv: NodeEnv;
  readonly port: number;
  readonly host: string;
  /** Unset: an embedded PostgreSQL is started under `dataDir`. */
  readonly databaseUrl: string | undefined;
  /**
   * The tables' owner, for the migrations (the service's own role, DATABASE_URL's, then gets only
   * what it needs); unset: DATABASE_URL's role runs them.
   */
  readonly databaseMigrationUrl: string | undefined;
  readonly dataDir: string;
  readonly jwt: {
    /** Key that signs API tokens (and, derived, sessions). */
    readonly secret: Buffer;
    /** Where the key came from; `generated` means it was made and kept under `dataDir`. */
    readonly secretSource: 'env' | 'generated';
    /** Older keys that still verify API tokens but never sign. */
    readonly previousSecrets: readonly Buffer[];
    readonly issuer: string;
    readonly sessionTtlSeconds: number;
  };
  readonly admin: { readonly email: string; readonly password: string } | undefined;
  readonly allowRegistration: boolean;
  readonly auditRetentionDays: number;
  /** Signed checkpoints of the audit chain's head (docs/audit.md, "Signed checkpoints"). */
  readonly auditCheckpoints: AuditCheckpointConfig;
  readonly logLevel: LogLevel;
  /**
   * Which reverse proxies are believed about the client (X-Forwarded-For, X-Forwarded-Proto):
   * none (false, the default), any (true), or these addresses/CIDR ranges.
   */
  readonly trustProxy: boolean | readonly string[];
  /** Abuse limits; 0 turns a limit off. */
  readonly rateLimits: RateLimits;
  /** Origins allowed by CORS; empty: no CORS headers at all (browsers refuse cross-origin calls). */
  readonly corsOrigins: readonly string[];
  /** When set, GET /metrics needs `Authorization: Bearer <metricsToken>`; null: /metrics is public. */
  readonly metricsToken: string | null;
  /** Staff single sign-on with OpenID Connect (docs/sso.md). */
  readonly sso: SsoConfig;
  /** Webhook deliveries (docs/api.md, "Webhooks"). */
  readonly webhooks: WebhookConfig;
  /**
   * The service's public URL (PUBLIC_URL), the OAuth issuer; null: `http://HOST:PORT`, with the port the
   * service actually listens on.
   */
  readonly publicUrl: string | null;
  /** The OAuth 2.1 authorization server for MCP clients (docs/mcp-oauth.md). */
  readonly oauth: OAuthServerConfig;
  /** The audit stream to a SIEM (docs/siem.md); null: no stream. */
  readonly auditSyslog: AuditSyslogConfig | null;
  /** This instance's name in audit records sent out (syslog HOSTNAME, FHIR source): AUDIT_SYSLOG_HOSTNAME or the machine's. */
  readonly auditHostname: string;
}

/** The roles a provider's claim may map to (the `user_role` enum). */
export type SsoRole = 'user' | 'auditor' | 'admin';
const SSO_ROLES: readonly SsoRole[] = ['user', 'auditor', 'admin'];

/** One OpenID Connect provider (the hospital's Keycloak, Entra ID, Pro Santé Connect…). */
export interface OidcProviderConfig {
  /** In the routes' paths: /api/auth/oidc/{id}/login. Lower-case letters, digits and hyphens. */
  readonly id: string;
  /** The button's text: « Se connecter avec <displayName> ». */
  readonly displayName: string;
  /** Discovery: <issuer>/.well-known/openid-configuration. */
  readonly issuer: string;
  readonly clientId: string;
  /** client_secret_basic; a secret, never logged nor shown. */
  readonly clientSecret: string | undefined;
  /** private_key_jwt instead of a secret: the client's private key. */
  readonly clientPrivateKey: KeyObject | undefined;
  readonly scopes: readonly string[];
  /** The claim the roles come from (a dotted path such as realm_access.roles is followed). */
  readonly roleClaim: string;
  /** Claim value → role; the highest role matched wins. */
  readonly roleMap: Readonly<Record<string, SsoRole>>;
  /** The role when no value of the claim is in the map; null refuses the login. */
  readonly defaultRole: SsoRole | null;
  /** When set, a value the role claim must hold to be let in at all. */
  readonly requiredGroup: string | undefined;
  /** Email domains let in (empty: any). */
  readonly allowedDomains: readonly string[];
  /** Email domains for which this provider may take over a local account with the same email. */
  readonly trustedEmailDomains: readonly string[];
  /** A claim kept on the account as the professional identifier (Pro Santé Connect: SubjectNameID). */
  readonly professionalIdClaim: string | undefined;
  /** Plain http to the issuer: allowed only for a loopback issuer (tests, a local IdP). */
  readonly loopbackIssuer: boolean;
}

export interface SsoConfig {
  readonly providers: readonly OidcProviderConfig[];
  /** Local passwords refused, except the break-glass admin of ADMIN_EMAIL. */
  readonly ssoOnly: boolean;
  /** The service's public URL, for the redirect URIs; unset: taken from the request. */
  readonly redirectBaseUrl: string | undefined;
}

export interface WebhookConfig {
  /**
   * Endpoints on loopback, private or link-local addresses, and plain http to them, are allowed
   * (a test receiver, an intranet service); off: https to public addresses only.
   */
  readonly allowPrivateNetworks: boolean;
  /** How often this instance runs the dispatcher (one instance at a time); 0: never on this instance. */
  readonly dispatchIntervalSeconds: number;
}

/** How MCP clients may register with the authorization server (RFC 7591): open, with an initial access token, or not at all. */
export type DynamicRegistration = 'open' | 'token' | 'off';

export interface OAuthServerConfig {
  readonly accessTokenTtlSeconds: number;
  readonly refreshTokenTtlSeconds: number;
  /** Client ID Metadata Documents on loopback addresses: allowed when the service listens on loopback, or when this is set. */
  readonly cimdAllowLoopback: boolean;
  /** Client ID Metadata Documents on private or link-local addresses. */
  readonly cimdAllowPrivate: boolean;
  /** PEM certificates trusted, besides the system's, when fetching Client ID Metadata Documents (an internal CA). */
  readonly cimdExtraCa: string | null;
  readonly dynamicRegistration: DynamicRegistration;
  /** The initial access token dynamic registration needs when `dynamicRegistration` is `token`. A secret. */
  readonly dcrInitialAccessToken: string | null;
}

/** AUDIT_SYSLOG_*: where and how the audit log is streamed (RFC 5424 over RFC 5425 TLS or RFC 6587 TCP). */
export interface AuditSyslogConfig {
  readonly transport: 'tls' | 'tcp';
  readonly host: string;
  readonly port: number;
  /** One JSON event a message, or a FHIR R4 AuditEvent (IHE BALP). */
  readonly format: 'json' | 'fhir';
  /** PEM of the CAs that verify the receiver (TLS); undefined: the system's. */
  readonly ca: string | undefined;
  /** Client certificate and key (PEM) for receivers that authenticate their senders (TLS). */
  readonly cert: string | undefined;
  readonly key: string | undefined;
  /** The HOSTNAME field of every message. */
  readonly hostname: string;
}

export interface RateLimits {
  /** Login attempts per client address per minute. */
  readonly loginPerIpPerMinute: number;
  /**
   * Password checks per account (email) per minute, from every address together; past it, an address that has failed on the
   * account is refused and any other waits its turn (LoginLockout).
   */
  readonly loginPerAccountPerMinute: number;
  /** Registrations per client address per minute. */
  readonly registerPerIpPerMinute: number;
  /** Failed validations (401/400) per client address per minute; valid tokens are never refused. */
  readonly validateFailuresPerIpPerMinute: number;
  /** Consecutive failed logins for one account from one address before it is locked out there. */
  readonly lockoutAfterFailures: number;
  /** First lockout; each further failure doubles it, up to lockoutMaxSeconds. */
  readonly lockoutBaseSeconds: number;
  readonly lockoutMaxSeconds: number;
}

export interface AuditCheckpointConfig {
  /** Seconds between two checkpoints (one is also signed at shutdown). */
  readonly intervalSeconds: number;
  /** The Ed25519 private key that signs them: never stored in the database. */
  readonly signingKey: KeyObject;
  /** Where the key came from; `generated` means it was made and kept under `dataDir`. */
  readonly signingKeySource: 'env' | 'generated';
  /** The file, outside the database, to which every checkpoint is appended as one JSON line. */
  readonly file: string;
}

/** Thrown for any invalid variable; its message is one line naming the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** A value quoted for an error message: escaped (one line whatever it holds) and cut short. */
function shown(raw: string): string {
  return JSON.stringify(raw.length > 60 ? `${raw.slice(0, 60)}…` : raw);
}

const MIN_SECRET_BYTES = 32;
/** A host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens, 253 characters at most. */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got ${shown(raw)})`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got ${n})`);
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return def;
  const v = raw.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(name, `must be true or false (got ${shown(raw)})`);
}

/** A postgres:// URL (never quoted back: it holds a password). */
function postgresUrl(env: Env, name: string): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be a URL such as postgres://user:password@host:5432/db');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(name, `must start with postgres:// or postgresql:// (got ${shown(url.protocol + '//')})`);
  }
  return raw;
}

/** false, true, or a comma-separated list of IP addresses or CIDR ranges (10.0.0.0/8, ::1). */
function trustProxy(env: Env): boolean | string[] {
  const raw = str(env, 'TRUST_PROXY');
  if (raw === undefined) return false;
  const v = raw.toLowerCase();
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  if (['true', 'yes', 'on'].includes(v)) return true;
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const entry of entries) {
    const [address, prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
    if (family === 0 || !prefixOk || rest.length > 0) {
      throw new ConfigError('TRUST_PROXY', `must be true, false or a comma-separated list of IP addresses or CIDR ranges (got "${entry}")`);
    }
  }
  return entries;
}

/** A key is weak when it is short or made of very few distinct characters. */
function checkSecret(name: string, secret: string, production: boolean): Buffer {
  const buf = Buffer.from(secret, 'utf8');
  if (buf.length < MIN_SECRET_BYTES) {
    throw new ConfigError(name, `must be at least ${MIN_SECRET_BYTES} bytes (got ${buf.length})`);
  }
  if (production && new Set(secret).size < 10) {
    throw new ConfigError(name, 'is too weak: use a random value, e.g. `openssl rand -base64 48`');
  }
  return buf;
}

/**
 * Reads the JWT key kept under the data folder, creating it on first use.
 * Only used outside production, when JWT_SECRET is unset.
 */
function keptSecret(dataDir: string): Buffer {
  const file = join(dataDir, 'jwt-secret');
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim();
    if (Buffer.byteLength(kept) >= MIN_SECRET_BYTES) return Buffer.from(kept, 'utf8');
  }
  mkdirSync(dataDir, { recursive: true });
  const fresh = randomBytes(48).toString('base64url');
  writeFileSync(file, fresh + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return Buffer.from(fresh, 'utf8');
}

/** AUDIT_SIGNING_KEY: an Ed25519 private key, PKCS#8 in PEM or in base64 DER. The value is never quoted back. */
function signingKeyOf(raw: string): KeyObject {
  let key: KeyObject;
  try {
    key = raw.includes('-----BEGIN')
      ? createPrivateKey(raw.replace(/\\n/g, '\n'))
      : createPrivateKey({ key: Buffer.from(raw, 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    throw new ConfigError('AUDIT_SIGNING_KEY', 'must be an Ed25519 private key, PKCS#8 in PEM or base64 DER (e.g. `openssl genpkey -algorithm ed25519`)');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError('AUDIT_SIGNING_KEY', `must be an Ed25519 key (got ${key.asymmetricKeyType ?? 'another kind'})`);
  return key;
}

/**
 * Reads the checkpoint signing key kept under the data folder, creating it on first use (mode 600).
 * Only used outside production, when AUDIT_SIGNING_KEY is unset.
 */
function keptSigningKey(dataDir: string): KeyObject {
  const file = join(dataDir, 'audit-signing-key.pem');
  if (existsSync(file)) {
    try {
      const key = createPrivateKey(readFileSync(file, 'utf8'));
      if (key.asymmetricKeyType === 'ed25519') return key;
    } catch {
      // An unreadable key is replaced below, as a short jwt-secret is.
    }
  }
  mkdirSync(dataDir, { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  chmodSync(file, 0o600);
  return privateKey;
}

const PROVIDER_ID = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const CLAIM_NAME = /^[A-Za-z0-9_:.-]{1,100}$/;

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function listOf(value: unknown, name: string, split = /[\s,]+/): string[] {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(split) : undefined;
  if (!items || items.some((v) => typeof v !== 'string')) throw new ConfigError(name, 'must be a list of strings');
  return (items as string[]).map((v) => v.trim()).filter((v) => v !== '');
}

function domainsOf(value: unknown, name: string): string[] {
  const out = listOf(value, name).map((d) => d.toLowerCase().replace(/^@/, ''));
  for (const d of out) if (!HOST_NAME.test(d)) throw new ConfigError(name, `must be a comma-separated list of email domains (got ${shown(d)})`);
  return out;
}

function roleMapOf(value: unknown, name: string): Record<string, SsoRole> {
  if (value === undefined || value === null || value === '') return {};
  let obj: unknown = value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (text.startsWith('{')) {
      try {
        obj = JSON.parse(text);
      } catch {
        throw new ConfigError(name, 'must be JSON such as {"hospiai-admins": "admin"} or a list such as hospiai-admins=admin,dsi-securite=auditor');
      }
    } else {
      const map: Record<string, string> = {};
      for (const pair of text.split(',')) {
        const eq = pair.lastIndexOf('=');
        if (eq <= 0) throw new ConfigError(name, `must be a list such as hospiai-admins=admin,dsi-securite=auditor (got ${shown(pair)})`);
        map[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
      }
      obj = map;
    }
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new ConfigError(name, 'must map claim values to roles');
  const out: Record<string, SsoRole> = Object.create(null) as Record<string, SsoRole>;
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (!SSO_ROLES.includes(v as SsoRole)) throw new ConfigError(name, `maps ${shown(k)} to ${shown(String(v))}: roles are user, auditor, admin`);
    out[k] = v as SsoRole;
  }
  return out;
}

/** OIDC_CLIENT_PRIVATE_KEY: the client's private key for private_key_jwt (PEM, PKCS#8). Never quoted back. */
function clientKeyOf(raw: string, name: string): KeyObject {
  try {
    const key = createPrivateKey(raw.replace(/\\n/g, '\n'));
    if (!['rsa', 'ec', 'ed25519'].includes(key.asymmetricKeyType ?? '')) throw new Error('kind');
    return key;
  } catch {
    throw new ConfigError(name, 'must be an RSA, EC or Ed25519 private key in PEM (PKCS#8)');
  }
}

/** One provider, from the OIDC_* variables (`prefix` names them in errors) or from an entry of OIDC_PROVIDERS. */
function providerOf(raw: Record<string, unknown>, where: (field: string) => string, defaults: { allowedDomains: string[] }): OidcProviderConfig {
  const text = (field: string, required: boolean): string | undefined => {
    const v = raw[field];
    if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) {
      if (required) throw new ConfigError(where(field), 'is required');
      return undefined;
    }
    if (typeof v !== 'string') throw new ConfigError(where(field), 'must be a string');
    return v.trim();
  };
  const id = text('id', false) ?? 'sso';
  if (!PROVIDER_ID.test(id)) throw new ConfigError(where('id'), `must be 1 to 32 lower-case letters, digits or hyphens (got ${shown(id)})`);
  const issuer = text('issuer', true)!;
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new ConfigError(where('issuer'), `must be the issuer's URL, such as https://sso.chu-exemple.fr/realms/chu (got ${shown(issuer)})`);
  }
  const loopbackIssuer = isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopbackIssuer)) {
    throw new ConfigError(where('issuer'), `must be an https:// URL (plain http only on a loopback address) (got ${shown(issuer)})`);
  }
  const clientId = text('clientId', true)!;
  const clientSecret = text('clientSecret', false);
  const keyText = text('clientPrivateKey', false);
  if (clientSecret !== undefined && keyText !== undefined) {
    throw new ConfigError(where('clientPrivateKey'), `is set with ${where('clientSecret')}: choose one client authentication`);
  }
  const scopes = listOf(raw.scopes ?? 'openid email profile', where('scopes'));
  if (!scopes.includes('openid')) scopes.unshift('openid');
  const roleClaim = text('roleClaim', false) ?? 'groups';
  if (!CLAIM_NAME.test(roleClaim)) throw new ConfigError(where('roleClaim'), `must be a claim name (got ${shown(roleClaim)})`);
  const defaultRoleText = text('defaultRole', false) ?? 'user';
  if (defaultRoleText !== 'none' && !SSO_ROLES.includes(defaultRoleText as SsoRole)) {
    throw new ConfigError(where('defaultRole'), `must be user, auditor, admin or none (got ${shown(defaultRoleText)})`);
  }
  const professionalIdClaim = text('professionalIdClaim', false);
  if (professionalIdClaim !== undefined && !CLAIM_NAME.test(professionalIdClaim)) {
    throw new ConfigError(where('professionalIdClaim'), `must be a claim name (got ${shown(professionalIdClaim)})`);
  }
  return {
    id,
    displayName: text('displayName', false) ?? id,
    issuer,
    clientId,
    clientSecret,
    clientPrivateKey: keyText !== undefined ? clientKeyOf(keyText, where('clientPrivateKey')) : undefined,
    scopes,
    roleClaim,
    roleMap: roleMapOf(raw.roleMap, where('roleMap')),
    defaultRole: defaultRoleText === 'none' ? null : (defaultRoleText as SsoRole),
    requiredGroup: text('requiredGroup', false),
    allowedDomains: raw.allowedDomains !== undefined ? domainsOf(raw.allowedDomains, where('allowedDomains')) : defaults.allowedDomains,
    trustedEmailDomains: domainsOf(raw.trustedEmailDomains, where('trustedEmailDomains')),
    professionalIdClaim,
    loopbackIssuer,
  };
}

/** The env variable of each field of a provider given by OIDC_* variables. */
const OIDC_VARIABLES: Record<string, string> = {
  id: 'OIDC_PROVIDER_ID',
  displayName: 'OIDC_DISPLAY_NAME',
  issuer: 'OIDC_ISSUER',
  clientId: 'OIDC_CLIENT_ID',
  clientSecret: 'OIDC_CLIENT_SECRET',
  clientPrivateKey: 'OIDC_CLIENT_PRIVATE_KEY',
  scopes: 'OIDC_SCOPES',
  roleClaim: 'OIDC_ROLE_CLAIM',
  roleMap: 'OIDC_ROLE_MAP',
  defaultRole: 'OIDC_DEFAULT_ROLE',
  requiredGroup: 'OIDC_REQUIRED_GROUP',
  trustedEmailDomains: 'OIDC_TRUSTED_EMAIL_DOMAINS',
  professionalIdClaim: 'OIDC_PROFESSIONAL_ID_CLAIM',
};

/** OIDC_ISSUER and the other OIDC_* variables (one provider), OIDC_PROVIDERS / OIDC_PROVIDERS_FILE (several), SSO_ONLY. */
function ssoOf(env: Env, cwd: string, admin: AppConfig['admin']): SsoConfig {
  const allowedDomains = domainsOf(str(env, 'OIDC_ALLOWED_DOMAINS'), 'OIDC_ALLOWED_DOMAINS');
  const providers: OidcProviderConfig[] = [];
  const inline = str(env, 'OIDC_PROVIDERS');
  const file = str(env, 'OIDC_PROVIDERS_FILE');
  if (inline !== undefined && file !== undefined) throw new ConfigError('OIDC_PROVIDERS_FILE', 'is set with OIDC_PROVIDERS: choose one');
  if (inline !== undefined || file !== undefined) {
    const name = inline !== undefined ? 'OIDC_PROVIDERS' : 'OIDC_PROVIDERS_FILE';
    let text = inline;
    if (file !== undefined) {
      try {
        text = readFileSync(resolve(cwd, file), 'utf8');
      } catch {
        throw new ConfigError(name, `names a file that cannot be read (${shown(file)})`);
      }
    }
    let list: unknown;
    try {
      list = JSON.parse(text ?? '');
    } catch {
      throw new ConfigError(name, 'must be a JSON array of providers (docs/sso.md)');
    }
    if (!Array.isArray(list) || list.some((p) => !p || typeof p !== 'object' || Array.isArray(p))) {
      throw new ConfigError(name, 'must be a JSON array of provider objects (docs/sso.md)');
    }
    list.forEach((p: Record<string, unknown>, i) => providers.push(providerOf(p, (f) => `${name}[${i}].${f}`, { allowedDomains })));
  }
  if (str(env, 'OIDC_ISSUER') !== undefined) {
    const raw: Record<string, unknown> = {};
    for (const [field, variable] of Object.entries(OIDC_VARIABLES)) raw[field] = str(env, variable);
    providers.unshift(providerOf(raw, (f) => OIDC_VARIABLES[f] ?? f, { allowedDomains }));
  } else {
    for (const variable of Object.values(OIDC_VARIABLES)) {
      if (str(env, variable) !== undefined) throw new ConfigError(variable, 'needs OIDC_ISSUER');
    }
  }
  const seen = new Set<string>();
  for (const p of providers) {
    if (seen.has(p.id)) throw new ConfigError('OIDC_PROVIDERS', `names the provider ${shown(p.id)} twice`);
    seen.add(p.id);
  }
  const ssoOnly = bool(env, 'SSO_ONLY', false);
  if (ssoOnly && providers.length === 0) throw new ConfigError('SSO_ONLY', 'needs a provider (OIDC_ISSUER or OIDC_PROVIDERS)');
  if (ssoOnly && !admin) throw new ConfigError('SSO_ONLY', 'needs the break-glass admin (ADMIN_EMAIL and ADMIN_PASSWORD)');
  const redirectBase = str(env, 'OIDC_REDIRECT_BASE_URL');
  let redirectBaseUrl: string | undefined;
  if (redirectBase !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(redirectBase);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '') {
      throw new ConfigError('OIDC_REDIRECT_BASE_URL', `must be the service's public URL, such as https://hospiai.chu-exemple.fr (got ${shown(redirectBase)})`);
    }
    redirectBaseUrl = url.toString().replace(/\/$/, '');
  }
  return { providers, ssoOnly, redirectBaseUrl };
}

/** A PEM file named by a variable, read once at start (its content is never quoted back). */
function pemFile(env: Env, name: string, cwd: string): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(resolve(cwd, raw), 'utf8');
  } catch {
    throw new ConfigError(name, `must name a readable PEM file (got ${shown(raw)})`);
  }
  if (!text.includes('-----BEGIN')) throw new ConfigError(name, `must name a PEM file (got ${shown(raw)})`);
  return text;
}

/** AUDIT_SYSLOG_URL (tls://host:port or tcp://host:port) and the variables that go with it. */
function auditHostname(env: Env): string {
  const raw = str(env, 'AUDIT_SYSLOG_HOSTNAME');
  if (raw !== undefined && !/^[\x21-\x7e]{1,255}$/.test(raw)) {
    throw new ConfigError('AUDIT_SYSLOG_HOSTNAME', `must be 1 to 255 printable ASCII characters without spaces (got ${shown(raw)})`);
  }
  return raw ?? hostnameOf();
}

function auditSyslog(env: Env, cwd: string, hostname: string): AuditSyslogConfig | null {
  const formatRaw = (str(env, 'AUDIT_SYSLOG_FORMAT') ?? 'json').toLowerCase();
  if (formatRaw !== 'json' && formatRaw !== 'fhir') throw new ConfigError('AUDIT_SYSLOG_FORMAT', `must be json or fhir (got ${shown(formatRaw)})`);
  const ca = pemFile(env, 'AUDIT_SYSLOG_CA_FILE', cwd);
  const cert = pemFile(env, 'AUDIT_SYSLOG_CERT_FILE', cwd);
  const key = pemFile(env, 'AUDIT_SYSLOG_KEY_FILE', cwd);
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(cert === undefined ? 'AUDIT_SYSLOG_CERT_FILE' : 'AUDIT_SYSLOG_KEY_FILE', 'is required when the other of AUDIT_SYSLOG_CERT_FILE and AUDIT_SYSLOG_KEY_FILE is set');
  }
  const raw = str(env, 'AUDIT_SYSLOG_URL');
  if (raw === undefined) return null;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  const transport = url?.protocol === 'tls:' ? 'tls' : url?.protocol === 'tcp:' ? 'tcp' : undefined;
  const host = url?.hostname.replace(/^\[|\]$/g, '') ?? '';
  if (!url || !transport || host === '' || url.pathname !== '' || url.search !== '' || url.username !== '') {
    throw new ConfigError('AUDIT_SYSLOG_URL', `must be tls://host:port or tcp://host:port (got ${shown(raw)})`);
  }
  if ((ca || cert) && transport === 'tcp') throw new ConfigError('AUDIT_SYSLOG_URL', 'must be tls:// when AUDIT_SYSLOG_CA_FILE or AUDIT_SYSLOG_CERT_FILE is set');
  return {
    transport,
    host,
    // RFC 5425 assigns 6514 to syslog over TLS; plain TCP has no assigned port (514 by custom).
    port: url.port === '' ? (transport === 'tls' ? 6514 : 514) : Number(url.port),
    format: formatRaw,
    ca,
    cert,
    key,
    hostname,
  };
}

/**
 * Validates the environment once, at start, into a typed object. Nothing
 * else in the service reads `process.env`.
 */
export function loadConfig(env: Env, cwd: string = process.cwd()): AppConfig {
  const nodeEnvRaw = str(env, 'NODE_ENV') ?? 'development';
  if (!['development', 'production', 'test'].includes(nodeEnvRaw)) {
    throw new ConfigError('NODE_ENV', `must be development, production or test (got ${shown(nodeEnvRaw)})`);
  }
  const nodeEnv = nodeEnvRaw as NodeEnv;
  const production = nodeEnv === 'production';

  const port = int(env, 'PORT', 3000, 0, 65535);
  const host = str(env, 'HOST') ?? '127.0.0.1';
  if (isIP(host) === 0 && !HOST_NAME.test(host)) {
    throw new ConfigError('HOST', `must be an IP address or a host name (got ${shown(host)})`);
  }

  const databaseUrl = postgresUrl(env, 'DATABASE_URL');
  const databaseMigrationUrl = postgresUrl(env, 'DATABASE_MIGRATION_URL');
  if (databaseMigrationUrl !== undefined && databaseUrl === undefined) {
    throw new ConfigError('DATABASE_MIGRATION_URL', 'needs DATABASE_URL (the embedded PostgreSQL makes its own roles)');
  }

  const dataDirRaw = str(env, 'DATA_DIR') ?? '.data';
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(cwd, dataDirRaw);

  const secretRaw = str(env, 'JWT_SECRET');
  let secret: Buffer;
  let secretSource: 'env' | 'generated';
  if (secretRaw !== undefined) {
    secret = checkSecret('JWT_SECRET', secretRaw, production);
    secretSource = 'env';
  } else if (production) {
    throw new ConfigError('JWT_SECRET', `is required in production (at least ${MIN_SECRET_BYTES} random bytes)`);
  } else {
    secret = keptSecret(dataDir);
    secretSource = 'generated';
  }

  const previousSecrets = (str(env, 'JWT_PREVIOUS_SECRETS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => checkSecret('JWT_PREVIOUS_SECRETS', s, production));

  const issuer = str(env, 'JWT_ISSUER') ?? 'hospiai';
  if (issuer.length > 200) throw new ConfigError('JWT_ISSUER', 'must be at most 200 characters');

  const sessionTtlSeconds = int(env, 'SESSION_TTL_SECONDS', 3600, 60, 86400);

  const adminEmail = str(env, 'ADMIN_EMAIL');
  const adminPassword = str(env, 'ADMIN_PASSWORD');
  let admin: AppConfig['admin'];
  if (adminEmail !== undefined || adminPassword !== undefined) {
    if (adminEmail === undefined) throw new ConfigError('ADMIN_EMAIL', 'is required when ADMIN_PASSWORD is set');
    if (adminPassword === undefined) throw new ConfigError('ADMIN_PASSWORD', 'is required when ADMIN_EMAIL is set');
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(adminEmail) || adminEmail.length > 254) {
      throw new ConfigError('ADMIN_EMAIL', 'must be an email address');
    }
    if (adminPassword.length < 12) throw new ConfigError('ADMIN_PASSWORD', 'must be at least 12 characters');
    admin = { email: adminEmail.toLowerCase().normalize('NFC'), password: adminPassword };
  }

  const logLevelRaw = (str(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevelRaw as LogLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')} (got ${shown(logLevelRaw)})`);
  }

  const rateLimits: RateLimits = {
    loginPerIpPerMinute: int(env, 'RATE_LIMIT_LOGIN_PER_MINUTE', 20, 0, 1_000_000),
    loginPerAccountPerMinute: int(env, 'RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE', 10, 0, 1_000_000),
    registerPerIpPerMinute: int(env, 'RATE_LIMIT_REGISTER_PER_MINUTE', 5, 0, 1_000_000),
    validateFailuresPerIpPerMinute: int(env, 'RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE', 600, 0, 10_000_000),
    lockoutAfterFailures: int(env, 'LOGIN_LOCKOUT_AFTER', 5, 0, 1000),
    lockoutBaseSeconds: int(env, 'LOGIN_LOCKOUT_SECONDS', 30, 1, 86400),
    lockoutMaxSeconds: int(env, 'LOGIN_LOCKOUT_MAX_SECONDS', 900, 1, 86400),
  };
  if (rateLimits.lockoutMaxSeconds < rateLimits.lockoutBaseSeconds) {
    throw new ConfigError('LOGIN_LOCKOUT_MAX_SECONDS', `must be at least LOGIN_LOCKOUT_SECONDS (${rateLimits.lockoutBaseSeconds})`);
  }

  const signingKeyRaw = str(env, 'AUDIT_SIGNING_KEY');
  if (signingKeyRaw === undefined && production) {
    throw new ConfigError('AUDIT_SIGNING_KEY', 'is required in production (an Ed25519 private key, e.g. `openssl genpkey -algorithm ed25519`)');
  }
  const checkpointFileRaw = str(env, 'AUDIT_CHECKPOINT_FILE');
  const auditCheckpoints: AuditCheckpointConfig = {
    intervalSeconds: int(env, 'AUDIT_CHECKPOINT_INTERVAL_SECONDS', 300, 1, 86400),
    signingKey: signingKeyRaw !== undefined ? signingKeyOf(signingKeyRaw) : keptSigningKey(dataDir),
    signingKeySource: signingKeyRaw !== undefined ? 'env' : 'generated',
    file: checkpointFileRaw === undefined ? join(dataDir, 'audit-checkpoints.ndjson') : resolve(cwd, checkpointFileRaw),
  };

  const corsOrigins = (str(env, 'CORS_ORIGINS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const origin of corsOrigins) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin) {
      throw new ConfigError(
        'CORS_ORIGINS',
        `must be a comma-separated list of origins such as https://intranet.chu-exemple.fr (got ${shown(origin)})`,
      );
    }
  }

  const metricsToken = str(env, 'METRICS_TOKEN') ?? null;
  if (metricsToken !== null && !/^[\x21-\x7e]{16,256}$/.test(metricsToken)) {
    // The value is a secret: never shown.
    throw new ConfigError('METRICS_TOKEN', 'must be 16 to 256 printable ASCII characters without spaces (for example: openssl rand -hex 32)');
  }

  const publicUrlRaw = str(env, 'PUBLIC_URL');
  let publicUrl: string | null = null;
  if (publicUrlRaw !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(publicUrlRaw);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '' || url.username !== '') {
      throw new ConfigError('PUBLIC_URL', `must be an http(s) URL without query or fragment, such as https://hospiai.chu-exemple.fr (got ${shown(publicUrlRaw)})`);
    }
    publicUrl = url.href.replace(/\/$/, '');
  }

  const dcrRaw = (str(env, 'OAUTH_DCR') ?? 'open').toLowerCase();
  if (!['open', 'token', 'off'].includes(dcrRaw)) throw new ConfigError('OAUTH_DCR', `must be open, token or off (got ${shown(dcrRaw)})`);
  const dcrInitialAccessToken = str(env, 'OAUTH_DCR_INITIAL_ACCESS_TOKEN') ?? null;
  if (dcrInitialAccessToken !== null && !/^[\x21-\x7e]{16,256}$/.test(dcrInitialAccessToken)) {
    // A secret: never shown.
    throw new ConfigError('OAUTH_DCR_INITIAL_ACCESS_TOKEN', 'must be 16 to 256 printable ASCII characters without spaces (for example: openssl rand -hex 32)');
  }
  if (dcrRaw === 'token' && dcrInitialAccessToken === null) {
    throw new ConfigError('OAUTH_DCR_INITIAL_ACCESS_TOKEN', 'is required when OAUTH_DCR=token');
  }
  const caFile = str(env, 'OAUTH_CIMD_CA_FILE');
  let cimdExtraCa: string | null = null;
  if (caFile !== undefined) {
    try {
      cimdExtraCa = readFileSync(resolve(cwd, caFile), 'utf8');
    } catch {
      throw new ConfigError('OAUTH_CIMD_CA_FILE', `cannot be read (got ${shown(caFile)})`);
    }
    if (!cimdExtraCa.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('OAUTH_CIMD_CA_FILE', 'must hold PEM certificates');
  }
  const oauth: OAuthServerConfig = {
    accessTokenTtlSeconds: int(env, 'OAUTH_ACCESS_TOKEN_TTL_SECONDS', 3600, 60, 86400),
    refreshTokenTtlSeconds: int(env, 'OAUTH_REFRESH_TOKEN_TTL_SECONDS', 30 * 86400, 300, 365 * 86400),
    cimdAllowLoopback: bool(env, 'OAUTH_CIMD_ALLOW_LOOPBACK', false),
    cimdAllowPrivate: bool(env, 'OAUTH_CIMD_ALLOW_PRIVATE', false),
    cimdExtraCa,
    dynamicRegistration: dcrRaw as DynamicRegistration,
    dcrInitialAccessToken,
  };

  return {
    nodeEnv,
    port,
    host,
    databaseUrl,
    databaseMigrationUrl,
    dataDir,
    jwt: { secret, secretSource, previousSecrets, issuer, sessionTtlSeconds },
    admin,
    allowRegistration: bool(env, 'ALLOW_REGISTRATION', true),
    auditRetentionDays: int(env, 'AUDIT_RETENTION_DAYS', 365, 1, 36500),
    auditCheckpoints,
    logLevel: logLevelRaw as LogLevel,
    trustProxy: trustProxy(env),
    rateLimits,
    corsOrigins,
    metricsToken,
    sso: ssoOf(env, cwd, admin),
    webhooks: {
      allowPrivateNetworks: bool(env, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
      dispatchIntervalSeconds: int(env, 'WEBHOOK_DISPATCH_INTERVAL_SECONDS', 10, 0, 3600),
    },
    publicUrl,
    oauth,
    auditSyslog: auditSyslog(env, cwd, auditHostname(env)),
    auditHostname: auditHostname(env),
  };
}

/** This machine's name, for the syslog HOSTNAME field. */
function hostnameOf(): string {
  const name = osHostname();
  return /^[\x21-\x7e]{1,255}$/.test(name) ? name : '-';
}
