// The built entry point (`node dist/src/main.js`, built by `npm test`) with bad
// configurations: it must stop at once with exit code 1 and one line naming the variable.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { REPO_ROOT as ROOT, SERVICE_MAIN as MAIN } from '../support/harness.js';
import { createTestDatabase, TEST_JWT_SECRET } from '../support/test-app.js';

/** Not a timing assertion: only a bound so that a hung process cannot hang the suite. */
const SAFETY_KILL_MS = 50_000;

// Each test starts a Node process: slow on a loaded machine.
jest.setTimeout(60_000);

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(env: Record<string, string>): { child: ChildProcess; done: Promise<Outcome>; stdout: () => string } {
  let stdout = '';
  let stderr = '';
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const kill = setTimeout(() => child.kill('SIGKILL'), SAFETY_KILL_MS);
  const done = new Promise<Outcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, stdout: () => stdout };
}

describe('configuration at start (node dist/src/main.js)', () => {
  let dataDir: string;
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run the tests with npm test (it builds first)`);
  });
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'hospiai-config-e2e-'));
  });
  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Runs main.js with a bad configuration; the database URL points nowhere, should the configuration be accepted by mistake. */
  const runBad = (env: Record<string, string>): Promise<Outcome> =>
    start({ DATA_DIR: dataDir, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', LOG_LEVEL: 'info', ...env }).done;

  function expectOneLine(out: Outcome, variable: string): string {
    expect(out.signal).toBeNull();
    expect(out.code).toBe(1);
    expect(out.stderr.endsWith('\n')).toBe(true);
    const lines = out.stderr.slice(0, -1).split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${variable} `));
    expect(out.stdout).toBe('');
    return lines[0];
  }

  it('PORT=abc: exit 1, one line naming PORT', async () => {
    const line = expectOneLine(await runBad({ PORT: 'abc', JWT_SECRET: TEST_JWT_SECRET }), 'PORT');
    expect(line).toBe('Invalid configuration: PORT must be a whole number from 0 to 65535 (got "abc")');
  });

  it('NODE_ENV=production without JWT_SECRET: exit 1, one line naming JWT_SECRET', async () => {
    const line = expectOneLine(await runBad({ NODE_ENV: 'production' }), 'JWT_SECRET');
    expect(line).toContain('production');
  });

  it('NODE_ENV=production without AUDIT_SIGNING_KEY: exit 1, one line naming AUDIT_SIGNING_KEY', async () => {
    const line = expectOneLine(await runBad({ NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET }), 'AUDIT_SIGNING_KEY');
    expect(line).toContain('production');
  });

  it('NODE_ENV=production with a low-entropy JWT_SECRET: exit 1, without the secret', async () => {
    const secret = 'ab'.repeat(24);
    const line = expectOneLine(await runBad({ NODE_ENV: 'production', JWT_SECRET: secret }), 'JWT_SECRET');
    expect(line).not.toContain(secret);
    expect(line).not.toContain('abab');
  });

  it('JWT_SECRET too short: exit 1, one line naming JWT_SECRET without its value', async () => {
    const secret = 'sh0rt-s3cret-value';
    const line = expectOneLine(await runBad({ JWT_SECRET: secret }), 'JWT_SECRET');
    expect(line).not.toContain(secret);
    expect(line).not.toContain('s3cret');
  });

  it('DATABASE_URL of another database: exit 1, without its password', async () => {
    const line = expectOneLine(
      await runBad({ JWT_SECRET: TEST_JWT_SECRET, DATABASE_URL: 'mysql://root:hunter2@db.internal/x' }),
      'DATABASE_URL',
    );
    expect(line).not.toContain('hunter2');
  });

  it('ADMIN_PASSWORD too short: exit 1, without the password', async () => {
    const line = expectOneLine(
      await runBad({ JWT_SECRET: TEST_JWT_SECRET, ADMIN_EMAIL: 'admin@chu-test.fr', ADMIN_PASSWORD: 'Sh0rtPw!' }),
      'ADMIN_PASSWORD',
    );
    expect(line).not.toContain('Sh0rtPw!');
  });

  it('a DATABASE_URL that cannot be reached: exit 1, one line naming DATABASE_URL, its password nowhere', async () => {
    const out = await start({
      DATA_DIR: dataDir,
      DATABASE_URL: 'postgres://hospiai:hunter2-pw@127.0.0.1:1/hospiai',
      JWT_SECRET: TEST_JWT_SECRET,
      PORT: '0',
    }).done;
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(
      /^HospiAI failed to start: cannot connect to the database at DATABASE_URL: .*ECONNREFUSED 127\.0\.0\.1:1\n$/,
    );
    expect(out.stdout + out.stderr).not.toContain('hunter2');
  }, 30_000);

  it('a PORT already taken: exit 1, one line naming HOST and PORT', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const database = await createTestDatabase();
    try {
      const out = await start({ DATA_DIR: dataDir, DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET, PORT: String(port) }).done;
      expect(out.code).toBe(1);
      expect(out.stderr).toMatch(
        new RegExp(`^HospiAI failed to start: cannot listen on HOST 127\\.0\\.0\\.1, PORT ${port}: .*EADDRINUSE.*\\n$`),
      );
    } finally {
      taken.close();
      await database.drop();
    }
  });

  it('starts with a valid configuration and stops cleanly on SIGTERM (exit 0)', async () => {
    const database = await createTestDatabase();
    try {
      // Production requires the audit checkpoint signing key too.
      const signingKey = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
      const run = start({
        DATA_DIR: dataDir,
        DATABASE_URL: database.url,
        JWT_SECRET: TEST_JWT_SECRET,
        AUDIT_SIGNING_KEY: signingKey,
        PORT: '0',
        NODE_ENV: 'production',
      });
      const port = await new Promise<number>((resolve, reject) => {
        const check = (): void => {
          const text = run.stdout();
          const bound = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
          if (text.includes('HospiAI listening') && bound) {
            run.child.stdout?.off('data', check);
            resolve(Number(bound[1]));
          }
        };
        run.child.stdout?.on('data', check);
        run.done.then((o) => reject(new Error(`exited before listening: ${o.code} ${o.stderr}`)), reject);
      });
      // An answer proves the start is over, signal handlers included (main.ts installs them
      // after the "listening" line: a SIGTERM sent on that line alone may come too early).
      const health = await fetch(`http://127.0.0.1:${port}/api/health`);
      expect(health.status).toBe(200);
      run.child.kill('SIGTERM');
      const out = await run.done;
      expect(out.signal).toBeNull();
      expect(out.code).toBe(0);
      // stderr only holds Node's process warnings (Fastify's FSTWRN004 about the error handler).
      expect(out.stderr).not.toMatch(/failed to start|Invalid configuration|error during shutdown/);
      expect(out.stderr).not.toContain(TEST_JWT_SECRET);
      const messages = out.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).msg as string);
      expect(messages).toEqual(expect.arrayContaining([expect.stringContaining('shutting down'), 'stopped']));
      expect(out.stdout).not.toContain(TEST_JWT_SECRET);
    } finally {
      await database.drop();
    }
  });
});
