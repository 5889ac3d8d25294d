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
  /** The audit stream to a SIEM (docs/siem.md); null: no stream. */
  readonly auditSyslog: AuditSyslogConfig | null;
  /** This instance's name in audit records sent out (syslog HOSTNAME, FHIR source): AUDIT_SYSLOG_HOSTNAME or the machine's. */
  readonly auditHostname: string;
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
    auditSyslog: auditSyslog(env, cwd, auditHostname(env)),
    auditHostname: auditHostname(env),
  };
}

/** This machine's name, for the syslog HOSTNAME field. */
function hostnameOf(): string {
  const name = osHostname();
  return /^[\x21-\x7e]{1,255}$/.test(name) ? name : '-';
}
