// Boots the real application on its own database (copied from the migrated
// template), listening on a free port, for one test file.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import passport from 'passport';
import pg from 'pg';
import { createApp } from '../../src/app.js';
import { loadConfig, type AppConfig } from '../../src/config/config.js';
import { login, register } from './harness.js';

export const TEST_JWT_SECRET = 'test-secret-for-e2e-only-0123456789abcdefghijklmnop';

export interface HttpAnswer<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent raw, as is (for broken JSON and the like). */
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
}

export interface TestApp {
  app: NestFastifyApplication;
  baseUrl: string;
  databaseUrl: string;
  config: AppConfig;
  /** Every log line the app wrote, as text. */
  logs: string[];
  /** A pool on the test database, for assertions on stored rows. */
  db: pg.Pool;
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<HttpAnswer<T>>;
  close(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates a fresh database from the migrated template. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = process.env.HOSPIAI_TEST_ADMIN_URL;
  const template = process.env.HOSPIAI_TEST_TEMPLATE;
  if (!adminUrl || !template) throw new Error('e2e tests need the global setup (run them with npm test)');
  const name = `${template.replace('_tpl_', '_t_')}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        break;
      } catch (err) {
        // Two files copying the template at the same instant may collide: try again.
        if (attempt >= 10 || !String((err as Error).message).includes('being accessed by other users')) throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(adminUrl, name),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * Abuse limits are off in tests: every test logs in and validates from 127.0.0.1, many times.
 * The tests of the limits themselves turn them on by passing these variables.
 */
export const NO_RATE_LIMITS: Record<string, string> = {
  RATE_LIMIT_LOGIN_PER_MINUTE: '0',
  RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE: '0',
  RATE_LIMIT_REGISTER_PER_MINUTE: '0',
  RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE: '0',
  LOGIN_LOCKOUT_AFTER: '0',
};

export function testConfig(databaseUrl: string, env: Record<string, string | undefined> = {}, dataDir?: string): AppConfig {
  return loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir ?? mkdtempSync(join(tmpdir(), 'hospiai-test-data-')),
    ...NO_RATE_LIMITS,
    ...env,
  });
}

/** Starts the app on a new database. `env` overrides configuration variables. */
export async function startTestApp(env: Record<string, string | undefined> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  try {
    return await bootTestApp(database.url, env, database.drop);
  } catch (err) {
    await database.drop();
    throw err;
  }
}

/**
 * Starts another instance of the app on an existing database (that of another
 * test app, for instance), with its own configuration: a second instance of a
 * deployment, or the same data under other keys. `close()` leaves the
 * database in place: close this app before the one that owns the database.
 */
export async function startTestAppOnDatabase(databaseUrl: string, env: Record<string, string | undefined> = {}): Promise<TestApp> {
  return bootTestApp(databaseUrl, env, async () => undefined);
}

/** Another app on an existing database, as a restart of the service would be (same as startTestAppOnDatabase). */
export const startTestAppOn = startTestAppOnDatabase;

async function bootTestApp(
  databaseUrl: string,
  env: Record<string, string | undefined>,
  dropDatabase: () => Promise<void>,
): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hospiai-test-data-'));
  const config = testConfig(databaseUrl, env, dataDir);
  const logs: string[] = [];
  // Passport keeps strategies in one process-wide registry: the app started last serves the
  // sessions of every app of the test file. Closing it gives the previous app its own back.
  const previousStrategy = sessionStrategy();
  const app = await createApp({
    config,
    databaseUrl,
    logDestination: { write: (line: string) => void logs.push(line) },
  });
  const ownStrategy = sessionStrategy();
  await app.listen({ port: 0, host: '127.0.0.1' }).catch(async (err: unknown) => {
    if (previousStrategy && sessionStrategy() === ownStrategy) passport.use('session', previousStrategy);
    await app.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const baseUrl = `http://127.0.0.1:${port}`;
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });

  const request = async <T>(method: string, path: string, options: RequestOptions = {}): Promise<HttpAnswer<T>> => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    let body: string | undefined;
    if (options.rawBody !== undefined) {
      body = options.rawBody;
      headers['content-type'] ??= 'application/json';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const res = await fetch(baseUrl + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    // JSON bodies only: NDJSON (application/x-ndjson) is a stream of values, left as text.
    if (/^application\/([\w.-]+\+)?json\b/.test(res.headers.get('content-type') ?? '') && text !== '') parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  };

  return {
    app,
    baseUrl,
    databaseUrl,
    config,
    logs,
    db,
    request,
    close: async () => {
      if (previousStrategy && sessionStrategy() === ownStrategy) passport.use('session', previousStrategy);
      await db.end();
      await app.close();
      await dropDatabase();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function sessionStrategy(): passport.Strategy | undefined {
  return (passport as unknown as { _strategy(name: string): passport.Strategy | undefined })._strategy('session');
}

let counter = 0;
/** A unique email for this test run. */
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}.${Date.now().toString(36)}.${counter}@chu-test.fr`;
}

export const PASSWORD = 'correct horse battery staple';

/** An account made by createUser: its id, its credentials and a session token. */
export interface User {
  id: string;
  email: string;
  password: string;
  token: string;
}

/** Registers a user and logs in; promotes it to `role` directly in the database when asked. */
export async function createUser(
  t: TestApp,
  options: { role?: 'user' | 'auditor' | 'admin'; email?: string; password?: string; phoneNumber?: string } = {},
): Promise<User> {
  const email = options.email ?? uniqueEmail(options.role ?? 'user');
  const password = options.password ?? PASSWORD;
  const { user } = await register(t.baseUrl, {
    email,
    password,
    firstname: 'Marie',
    surname: 'Curie',
    ...(options.phoneNumber ? { phoneNumber: options.phoneNumber } : {}),
  });
  const id = user.id;
  if (options.role && options.role !== 'user') await t.db.query(`UPDATE users SET role = $1 WHERE id = $2`, [options.role, id]);
  const session = await login(t.baseUrl, { email, password });
  return { id, email, password, token: session.accessToken };
}
