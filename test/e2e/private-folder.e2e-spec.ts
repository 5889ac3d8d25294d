// `npm start` and the e2e global setup from a checkout in a folder other accounts cannot enter
// (root's home on Debian is mode 700, and so is every `mktemp -d` folder). Run as root, the
// embedded PostgreSQL runs as the `postgres` account, which could reach neither the binaries in
// node_modules nor the cluster under .data/: the start failed with a bare `spawn … initdb EACCES`.
//
// The checkout is made as an install would leave it, without rebuilding anything: the built
// service (dist/), package.json and the test support copied, and node_modules hard-linked
// (`cp -al`): its files then live in the private folder exactly as `npm ci` would put them there
// (a symbolic link would not do: Node resolves it to the original, reachable, folder).
import { execFile, spawn } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { EmbeddedPostgres, SHARED_DIR } from '../../src/database/embedded-postgres.js';
import { freePort, login, register, REPO_ROOT, startService, type RunningService } from '../support/harness.js';

const run = promisify(execFile);
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('a checkout in a private folder (mode 700)', () => {
  let home: string;
  let checkout: string;
  let service: RunningService | undefined;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'hospiai-private-'));
    expect(statSync(home).mode & 0o777).toBe(0o700);
    checkout = join(home, 'hospiai');
    mkdirSync(checkout);
    cpSync(join(REPO_ROOT, 'package.json'), join(checkout, 'package.json'));
    cpSync(join(REPO_ROOT, 'dist'), join(checkout, 'dist'), { recursive: true });
    cpSync(join(REPO_ROOT, 'test', 'support'), join(checkout, 'test', 'support'), { recursive: true });
    await run('cp', ['-al', join(REPO_ROOT, 'node_modules'), join(checkout, 'node_modules')]);
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    // A cluster kept in the shared folder goes with the checkout.
    const link = join(checkout, '.data', 'pg');
    if (lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) {
      const cluster = realpathSync(link);
      if (cluster.startsWith(SHARED_DIR + '/')) rmSync(dirname(cluster), { recursive: true, force: true });
    }
    rmSync(home, { recursive: true, force: true });
  }, 60_000);

  const start = async (): Promise<RunningService> => {
    const port = await freePort();
    service = await startService({
      script: join(checkout, 'dist', 'src', 'main.js'),
      cwd: checkout,
      env: { PATH: process.env.PATH, NODE_ENV: 'development', PORT: String(port), LOG_LEVEL: 'info' },
      port,
      timeoutMs: 120_000,
    });
    return service;
  };

  it('npm start there: the service starts its embedded database and answers /api/health/ready; a restart reuses the cluster', async () => {
    const first = await start();
    const ready = await fetch(`${first.base}/api/health/ready`);
    expect(ready.status).toBe(200);
    expect(first.output()).not.toContain('EACCES');
    const account = { email: 'marie.curie@chu-exemple.fr', password: 'une phrase de passe longue', firstname: 'Marie', surname: 'Curie' };
    await register(first.base, account);
    const cluster = realpathSync(join(checkout, '.data', 'pg'));
    await first.stop();
    expect(await first.exited).toEqual({ code: 0, signal: null });

    const second = await start();
    expect(second.output()).not.toContain('initialising embedded PostgreSQL');
    expect(realpathSync(join(checkout, '.data', 'pg'))).toBe(cluster);
    // The account made before the restart is still there.
    expect((await login(second.base, account)).accessToken).toEqual(expect.any(String));
    await second.stop();
    expect(await second.exited).toEqual({ code: 0, signal: null });
  }, 240_000);

  it("npm test's global setup works there: it starts the embedded database and migrates the template", async () => {
    const script = [
      "import setup from './test/support/global-setup.mjs';",
      "import teardown from './test/support/global-teardown.mjs';",
      'await setup();',
      'await teardown();',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: checkout,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, output }).toEqual({
      code: 0,
      output: expect.stringMatching(/e2e database: embedded PostgreSQL, template hospiai_tpl_\S+ ready/),
    });
  }, 180_000);

  // Only root has an account to switch to; any other user runs PostgreSQL as itself and always reaches its own folders.
  (asRoot ? it : it.skip)(
    'when no folder the postgres account can reach can be used, start-up stops with one line that says why and what to do',
    async () => {
      const data = join(home, 'data');
      // A shared folder that cannot be created: its parent is a file.
      const embedded = new EmbeddedPostgres({ dir: data, sharedDir: join(checkout, 'package.json', 'shared') });
      const err: unknown = await embedded.start().then(
        async () => {
          await embedded.stop();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      const message = (err as Error).message;
      expect(message).toMatch(
        /^embedded PostgreSQL: the system account "postgres" cannot reach its data folder \S+, and \S+ cannot be created \(ENOTDIR\): move the project to a folder that account can enter, set DATA_DIR to one, or set DATABASE_URL$/,
      );
      expect(message).not.toContain('\n');
    },
  );
});
