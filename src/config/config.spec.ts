import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config.js';

const SECRET = 'k3Y-for-unit-tests-only-0123456789-ABCDEFGHIJ';
const SIGNING_KEY = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');

/** Calls loadConfig and returns the ConfigError it throws (fails when it throws nothing else). */
function configError(env: Record<string, string | undefined>, cwd?: string): ConfigError {
  try {
    loadConfig(env, cwd);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hospiai-config-spec-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the audit stream settings (AUDIT_SYSLOG_*) and refuses what is not one', () => {
    const base = { JWT_SECRET: SECRET, DATA_DIR: dir, AUDIT_SIGNING_KEY: SIGNING_KEY };
    expect(loadConfig(base).auditSyslog).toBeNull();
    const pem = join(dir, 'ca.pem');
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const c = loadConfig({ ...base, AUDIT_SYSLOG_URL: 'tls://siem.chu-exemple.fr', AUDIT_SYSLOG_FORMAT: 'FHIR', AUDIT_SYSLOG_CA_FILE: pem, AUDIT_SYSLOG_HOSTNAME: 'hospiai-1' });
    expect(c.auditSyslog).toMatchObject({ transport: 'tls', host: 'siem.chu-exemple.fr', port: 6514, format: 'fhir', hostname: 'hospiai-1', cert: undefined });
    expect(c.auditSyslog?.ca).toContain('BEGIN CERTIFICATE');
    expect(c.auditHostname).toBe('hospiai-1');
    expect(loadConfig({ ...base, AUDIT_SYSLOG_URL: 'tcp://[::1]:1514' }).auditSyslog).toMatchObject({ transport: 'tcp', host: '::1', port: 1514, format: 'json' });
    expect(configError({ ...base, AUDIT_SYSLOG_URL: 'udp://siem:514' }).variable).toBe('AUDIT_SYSLOG_URL');
    expect(configError({ ...base, AUDIT_SYSLOG_URL: 'tls://siem:6514/path' }).variable).toBe('AUDIT_SYSLOG_URL');
    expect(configError({ ...base, AUDIT_SYSLOG_URL: 'tcp://siem:514', AUDIT_SYSLOG_CA_FILE: pem }).variable).toBe('AUDIT_SYSLOG_URL');
    expect(configError({ ...base, AUDIT_SYSLOG_FORMAT: 'xml' }).variable).toBe('AUDIT_SYSLOG_FORMAT');
    expect(configError({ ...base, AUDIT_SYSLOG_CA_FILE: join(dir, 'missing.pem') }).variable).toBe('AUDIT_SYSLOG_CA_FILE');
    expect(configError({ ...base, AUDIT_SYSLOG_CERT_FILE: pem }).variable).toBe('AUDIT_SYSLOG_KEY_FILE');
    expect(configError({ ...base, AUDIT_SYSLOG_HOSTNAME: 'two words' }).variable).toBe('AUDIT_SYSLOG_HOSTNAME');
  });

  it('applies the documented defaults', () => {
    const c = loadConfig({ JWT_SECRET: SECRET }, dir);
    expect(c.nodeEnv).toBe('development');
    expect(c.port).toBe(3000);
    expect(c.host).toBe('127.0.0.1');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toBe(join(dir, '.data'));
    expect(c.jwt.secret.equals(Buffer.from(SECRET))).toBe(true);
    expect(c.jwt.secretSource).toBe('env');
    expect(c.jwt.previousSecrets).toEqual([]);
    expect(c.jwt.issuer).toBe('hospiai');
    expect(c.jwt.sessionTtlSeconds).toBe(3600);
    expect(c.admin).toBeUndefined();
    expect(c.allowRegistration).toBe(true);
    expect(c.auditRetentionDays).toBe(365);
    expect(c.logLevel).toBe('info');
  });

  it('reads every variable when it is set', () => {
    const c = loadConfig(
      {
        NODE_ENV: 'production',
        PORT: ' 8080 ',
        HOST: '0.0.0.0',
        DATABASE_URL: 'postgresql://app:pw@db.internal:5433/hospiai',
        DATABASE_MIGRATION_URL: 'postgresql://owner:pw@db.internal:5433/hospiai',
        DATA_DIR: 'var/data',
        JWT_SECRET: SECRET,
        AUDIT_SIGNING_KEY: SIGNING_KEY,
        JWT_PREVIOUS_SECRETS: ` ${SECRET.toUpperCase()} ,, `,
        JWT_ISSUER: 'chu-exemple',
        SESSION_TTL_SECONDS: '600',
        ADMIN_EMAIL: 'Admin@CHU-Exemple.fr',
        ADMIN_PASSWORD: 'a long admin passphrase',
        ALLOW_REGISTRATION: 'off',
        AUDIT_RETENTION_DAYS: '30',
        LOG_LEVEL: 'WARN',
      },
      dir,
    );
    expect(c.nodeEnv).toBe('production');
    expect(c.port).toBe(8080);
    expect(c.host).toBe('0.0.0.0');
    expect(c.databaseUrl).toBe('postgresql://app:pw@db.internal:5433/hospiai');
    expect(c.databaseMigrationUrl).toBe('postgresql://owner:pw@db.internal:5433/hospiai');
    expect(c.dataDir).toBe(join(dir, 'var/data'));
    expect(c.jwt.previousSecrets.map((b) => b.toString())).toEqual([SECRET.toUpperCase()]);
    expect(c.jwt.issuer).toBe('chu-exemple');
    expect(c.jwt.sessionTtlSeconds).toBe(600);
    expect(c.admin).toEqual({ email: 'admin@chu-exemple.fr', password: 'a long admin passphrase' });
    expect(c.allowRegistration).toBe(false);
    expect(c.auditRetentionDays).toBe(30);
    expect(c.logLevel).toBe('warn');
  });

  it('treats blank values as unset', () => {
    const c = loadConfig({ JWT_SECRET: SECRET, PORT: '  ', DATABASE_URL: '', ALLOW_REGISTRATION: ' ' }, dir);
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.databaseMigrationUrl).toBeUndefined();
    expect(c.allowRegistration).toBe(true);
  });

  it.each(['0.0.0.0', '::', '::1', 'localhost', 'hospiai.chu-exemple.fr'])('takes HOST=%s', (host) => {
    expect(loadConfig({ JWT_SECRET: SECRET, HOST: host }).host).toBe(host);
  });

  it('keeps an absolute DATA_DIR as is', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, DATA_DIR: dir }, '/somewhere/else').dataDir).toBe(dir);
  });

  describe('refuses a bad value with one line naming the variable', () => {
    const cases: Array<[string, Record<string, string>, string]> = [
      ['PORT=abc', { PORT: 'abc' }, 'PORT'],
      ['PORT=70000', { PORT: '70000' }, 'PORT'],
      ['PORT=-1', { PORT: '-1' }, 'PORT'],
      ['PORT=80.5', { PORT: '80.5' }, 'PORT'],
      ['HOST=not a host', { HOST: 'not a host' }, 'HOST'],
      ['HOST=http://0.0.0.0', { HOST: 'http://0.0.0.0' }, 'HOST'],
      ['HOST=-bad.example', { HOST: '-bad.example' }, 'HOST'],
      ['DATABASE_URL=mysql://x', { DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
      ['DATABASE_URL=not a url', { DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
      ['DATABASE_MIGRATION_URL=mysql://x', { DATABASE_URL: 'postgres://a:b@db/x', DATABASE_MIGRATION_URL: 'mysql://x' }, 'DATABASE_MIGRATION_URL'],
      ['DATABASE_MIGRATION_URL without DATABASE_URL', { DATABASE_MIGRATION_URL: 'postgres://owner:pw@db/x' }, 'DATABASE_MIGRATION_URL'],
      ['JWT_SECRET shorter than 32 bytes', { JWT_SECRET: 'x'.repeat(31) }, 'JWT_SECRET'],
      ['NODE_ENV=production without JWT_SECRET', { NODE_ENV: 'production', JWT_SECRET: '' }, 'JWT_SECRET'],
      ['NODE_ENV=production with a low-entropy secret', { NODE_ENV: 'production', JWT_SECRET: 'a'.repeat(40) }, 'JWT_SECRET'],
      ['NODE_ENV=staging', { NODE_ENV: 'staging' }, 'NODE_ENV'],
      ['JWT_PREVIOUS_SECRETS with a short key', { JWT_PREVIOUS_SECRETS: `${SECRET},short` }, 'JWT_PREVIOUS_SECRETS'],
      ['JWT_ISSUER longer than 200 characters', { JWT_ISSUER: 'i'.repeat(201) }, 'JWT_ISSUER'],
      ['SESSION_TTL_SECONDS=10', { SESSION_TTL_SECONDS: '10' }, 'SESSION_TTL_SECONDS'],
      ['ALLOW_REGISTRATION=maybe', { ALLOW_REGISTRATION: 'maybe' }, 'ALLOW_REGISTRATION'],
      ['AUDIT_RETENTION_DAYS=0', { AUDIT_RETENTION_DAYS: '0' }, 'AUDIT_RETENTION_DAYS'],
      ['AUDIT_RETENTION_DAYS=ten', { AUDIT_RETENTION_DAYS: 'ten' }, 'AUDIT_RETENTION_DAYS'],
      ['LOG_LEVEL=loud', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      ['ADMIN_EMAIL without ADMIN_PASSWORD', { ADMIN_EMAIL: 'admin@chu-exemple.fr' }, 'ADMIN_PASSWORD'],
      ['ADMIN_PASSWORD without ADMIN_EMAIL', { ADMIN_PASSWORD: 'a long admin passphrase' }, 'ADMIN_EMAIL'],
      ['ADMIN_EMAIL not an email', { ADMIN_EMAIL: 'admin', ADMIN_PASSWORD: 'a long admin passphrase' }, 'ADMIN_EMAIL'],
      ['ADMIN_PASSWORD too short', { ADMIN_EMAIL: 'admin@chu-exemple.fr', ADMIN_PASSWORD: 'short-pw' }, 'ADMIN_PASSWORD'],
    ];

    it.each(cases)('%s', (_name, env, variable) => {
      const err = configError({ JWT_SECRET: SECRET, DATA_DIR: dir, ...env }, dir);
      expect(err.name).toBe('ConfigError');
      expect(err.variable).toBe(variable);
      expect(err.message).toMatch(new RegExp(`^Invalid configuration: ${variable} \\S`));
      expect(err.message).not.toMatch(/[\r\n]/);
    });
  });

  it('says what was wrong with PORT', () => {
    expect(configError({ PORT: 'abc', JWT_SECRET: SECRET }, dir).message).toBe(
      'Invalid configuration: PORT must be a whole number from 0 to 65535 (got "abc")',
    );
  });

  it('never repeats a secret or a password in the message', () => {
    const shortSecret = 'not-long-enough-s3cr3t';
    expect(configError({ JWT_SECRET: shortSecret }, dir).message).not.toContain(shortSecret);
    const weak = 'abab'.repeat(10);
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: weak }, dir).message).not.toContain(weak);
    expect(configError({ JWT_SECRET: SECRET, JWT_PREVIOUS_SECRETS: shortSecret }, dir).message).not.toContain(shortSecret);
    expect(
      configError({ JWT_SECRET: SECRET, ADMIN_EMAIL: 'admin@chu-exemple.fr', ADMIN_PASSWORD: 'Pa55-word' }, dir).message,
    ).not.toContain('Pa55-word');
    expect(configError({ JWT_SECRET: SECRET, DATABASE_URL: 'mysql://root:hunter2@db/x' }, dir).message).not.toContain('hunter2');
  });

  // A value holding a line break is echoed verbatim (config.ts: int(), bool(), NODE_ENV and
  // LOG_LEVEL put the raw value in the message), so the "one line" message becomes two.
  it('keeps the message on one line when the bad value holds a line break', () => {
    const err = configError({ JWT_SECRET: SECRET, PORT: '80\n80' }, dir);
    expect(err.variable).toBe('PORT');
    expect(err.message).not.toMatch(/[\r\n]/);
  });

  describe('the audit checkpoint signing key', () => {
    it('is required in production: one line naming AUDIT_SIGNING_KEY', () => {
      const err = configError({ NODE_ENV: 'production', JWT_SECRET: 'Zq8vR2mN5xT1wY7bK4cH9jL3pF6sD0gA-_eU' }, dir);
      expect(err.variable).toBe('AUDIT_SIGNING_KEY');
      expect(err.message).not.toMatch(/[\r\n]/);
    });

    it('refuses a value that is not an Ed25519 private key, without quoting it', () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      for (const bad of ['not-a-key-at-all', rsa]) {
        const err = configError({ AUDIT_SIGNING_KEY: bad }, dir);
        expect(err.variable).toBe('AUDIT_SIGNING_KEY');
        expect(err.message).not.toContain(bad.slice(0, 40));
        expect(err.message).not.toMatch(/[\r\n]/);
      }
    });

    it('takes a PEM key with its line breaks written as \\n', () => {
      const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      const c = loadConfig({ AUDIT_SIGNING_KEY: pem.replace(/\n/g, '\\n') }, dir);
      expect(c.auditCheckpoints.signingKeySource).toBe('env');
      expect(c.auditCheckpoints.signingKey.asymmetricKeyType).toBe('ed25519');
    });

    it('outside production, unset: generated once under DATA_DIR with mode 600, and kept', () => {
      const first = loadConfig({ DATA_DIR: 'd' }, dir);
      const file = join(dir, 'd', 'audit-signing-key.pem');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(first.auditCheckpoints.signingKeySource).toBe('generated');
      const again = loadConfig({ DATA_DIR: 'd' }, dir);
      expect(again.auditCheckpoints.signingKey.equals(first.auditCheckpoints.signingKey)).toBe(true);
      expect(first.auditCheckpoints.file).toBe(join(dir, 'd', 'audit-checkpoints.ndjson'));
      expect(first.auditCheckpoints.intervalSeconds).toBe(300);
    });
  });

  it('accepts a strong JWT_SECRET in production', () => {
    const strong = 'Zq8vR2mN5xT1wY7bK4cH9jL3pF6sD0gA-_eU';
    const c = loadConfig({ NODE_ENV: 'production', JWT_SECRET: strong, AUDIT_SIGNING_KEY: SIGNING_KEY }, dir);
    expect(c.jwt.secret.toString()).toBe(strong);
    expect(c.jwt.secretSource).toBe('env');
  });

  it('accepts a repetitive 32-byte JWT_SECRET outside production', () => {
    expect(loadConfig({ JWT_SECRET: 'a'.repeat(32) }, dir).jwt.secret.length).toBe(32);
  });

  describe('without JWT_SECRET outside production', () => {
    it('generates a key kept in DATA_DIR/jwt-secret (mode 0600) and reuses it on the next load', () => {
      const dataDir = join(dir, 'nested', 'data');
      const first = loadConfig({ DATA_DIR: dataDir }, dir);
      expect(first.jwt.secretSource).toBe('generated');
      expect(first.jwt.secret.length).toBeGreaterThanOrEqual(32);

      const file = join(dataDir, 'jwt-secret');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8').trim()).toBe(first.jwt.secret.toString('utf8'));

      const second = loadConfig({ DATA_DIR: dataDir, NODE_ENV: 'test' }, dir);
      expect(second.jwt.secretSource).toBe('generated');
      expect(second.jwt.secret.equals(first.jwt.secret)).toBe(true);
    });

    it('makes a different key for a different data folder', () => {
      const a = loadConfig({ DATA_DIR: join(dir, 'a') }, dir);
      const b = loadConfig({ DATA_DIR: join(dir, 'b') }, dir);
      expect(a.jwt.secret.equals(b.jwt.secret)).toBe(false);
    });

    it('replaces a kept key that is too short', () => {
      writeFileSync(join(dir, 'jwt-secret'), 'short\n');
      const c = loadConfig({ DATA_DIR: dir }, dir);
      expect(c.jwt.secret.toString()).not.toBe('short');
      expect(c.jwt.secret.length).toBeGreaterThanOrEqual(32);
      expect(readFileSync(join(dir, 'jwt-secret'), 'utf8').trim()).toBe(c.jwt.secret.toString());
    });

    it('uses JWT_SECRET rather than the kept key when it is set', () => {
      loadConfig({ DATA_DIR: dir }, dir);
      const c = loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET }, dir);
      expect(c.jwt.secretSource).toBe('env');
      expect(c.jwt.secret.toString()).toBe(SECRET);
    });
  });
  describe('abuse limits and CORS', () => {
    it('have the documented defaults: limits on, CORS off', () => {
      const c = loadConfig({ JWT_SECRET: SECRET }, dir);
      expect(c.rateLimits).toEqual({
        loginPerIpPerMinute: 20,
        loginPerAccountPerMinute: 10,
        registerPerIpPerMinute: 5,
        validateFailuresPerIpPerMinute: 600,
        lockoutAfterFailures: 5,
        lockoutBaseSeconds: 30,
        lockoutMaxSeconds: 900,
      });
      expect(c.corsOrigins).toEqual([]);
    });

    it('accept 0 to turn a limit off, and a list of origins', () => {
      const c = loadConfig(
        {
          JWT_SECRET: SECRET,
          RATE_LIMIT_LOGIN_PER_MINUTE: '0',
          RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE: '0',
          LOGIN_LOCKOUT_AFTER: '0',
          CORS_ORIGINS: 'https://intranet.chu-exemple.fr, http://localhost:5173',
        },
        dir,
      );
      expect(c.rateLimits.loginPerIpPerMinute).toBe(0);
      expect(c.rateLimits.validateFailuresPerIpPerMinute).toBe(0);
      expect(c.rateLimits.lockoutAfterFailures).toBe(0);
      expect(c.corsOrigins).toEqual(['https://intranet.chu-exemple.fr', 'http://localhost:5173']);
    });

    it.each([
      [{ RATE_LIMIT_LOGIN_PER_MINUTE: '-1' }, 'RATE_LIMIT_LOGIN_PER_MINUTE'],
      [{ RATE_LIMIT_REGISTER_PER_MINUTE: 'lots' }, 'RATE_LIMIT_REGISTER_PER_MINUTE'],
      [{ LOGIN_LOCKOUT_SECONDS: '0' }, 'LOGIN_LOCKOUT_SECONDS'],
      [{ LOGIN_LOCKOUT_SECONDS: '60', LOGIN_LOCKOUT_MAX_SECONDS: '30' }, 'LOGIN_LOCKOUT_MAX_SECONDS'],
      [{ CORS_ORIGINS: '*' }, 'CORS_ORIGINS'],
      [{ CORS_ORIGINS: 'https://intranet.chu-exemple.fr/path' }, 'CORS_ORIGINS'],
      [{ CORS_ORIGINS: 'ftp://files.chu-exemple.fr' }, 'CORS_ORIGINS'],
    ])('refuse %j naming %s', (env, variable) => {
      expect(configError({ JWT_SECRET: SECRET, ...env }, dir).variable).toBe(variable);
    });
  });
});
