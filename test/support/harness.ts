// What the e2e tests, the benchmarks and the fault and browser scripts share: free ports, the
// built service (or another built script) started as a child process and waited for, stopped
// cleanly, and the fixtures every run needs through the API (an account, a session, a token).
//
// One TypeScript module for three kinds of callers:
// - the e2e tests (Jest, native ESM) import this file, as they import the rest of test/support;
// - the benchmarks (bench/*.ts) import it too, and `npm run build` compiles it with them (it is
//   listed in tsconfig.build.json's `files`) to dist/test/support/harness.js, next to
//   dist/bench/, so the compiled benchmarks find it where their imports point;
// - the plain scripts run by node (test/faults/*.mjs, test/browser/*.mjs) import that compiled
//   file. They run the built service anyway (dist/src/main.js), so they already need
//   `npm run build`, which writes both from the same sources: no second copy to drift, and the
//   type checker sees every line of it.
// It imports nothing from src/: production code never depends on it, nor it on production code.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root: the first folder above this file with a package.json (the same from test/support and dist/test/support). */
export const REPO_ROOT = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
})();

/** The built service's entry point, as `npm start` runs it. */
export const SERVICE_MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A TCP port on 127.0.0.1 that nothing listens on now. A fixed port could be held by anything, a
 * server left by an interrupted run among them, and the run would then talk to that server.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no free port on 127.0.0.1');
  return address.port;
}

// ---------------------------------------------------------------- child processes

export interface StartOptions {
  /** Names the process in errors; `the service` by default. */
  name?: string;
  /** The script node runs; the built service (dist/src/main.js) by default. */
  script?: string;
  /** Options for node itself, before the script (`--cpu-prof`…). */
  nodeArgs?: string[];
  /** The child's whole environment: nothing is inherited that is not here. */
  env: Record<string, string | undefined>;
  /** The port the process listens on (its base URL is http://127.0.0.1:<port>). */
  port: number;
  /** The process's own data folder, given to it as DATA_DIR. */
  dataDir?: string;
  cwd?: string;
  /**
   * A file the process's output is appended to, written by the process itself (no copy through
   * this one, which may be the load generator of a benchmark). Without it, the output is kept in
   * memory (`output()`).
   */
  logFile?: string;
  /** Takes the standard error instead of the log. */
  onStderr?: (chunk: Buffer) => void;
  /** What to wait for: a GET on this path answering 2xx; `/api/health/ready` by default. */
  readyPath?: string;
  /** Or else this text in the output (kept in memory, so no logFile): for a server that says when it listens. */
  readyLine?: string;
  /** Any HTTP answer will do (a server without the path). */
  anyAnswer?: boolean;
  /** How long to wait before the process is killed and the start fails. */
  timeoutMs?: number;
  /** Pause between two attempts. */
  intervalMs?: number;
  /** Lines of the log quoted in an error. */
  tailLines?: number;
  /** Called as soon as the process is spawned, before it answers: to stop it however the caller ends. */
  onSpawn?: (service: RunningService) => void;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningService {
  child: ChildProcess;
  port: number;
  /** http://127.0.0.1:<port> */
  base: string;
  dataDir?: string;
  /** Settles when the process has exited. */
  exited: Promise<ExitStatus>;
  /** False once the process has exited. */
  alive: boolean;
  /** Milliseconds from the spawn to the first good answer. */
  startMs: number;
  /** The output kept in memory (empty with a logFile). */
  output(): string;
  /** The last lines of the output (from the logFile when there is one). */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a built script (the service by default) as a child process and waits until it answers
 * on `readyPath`. Fails at once, with the last lines of its log, if the process exits first; kills
 * it and fails if it has not answered within `timeoutMs`.
 */
export async function startService(options: StartOptions): Promise<RunningService> {
  const name = options.name ?? 'the service';
  const script = options.script ?? SERVICE_MAIN;
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build first`);
  const env = { ...options.env, ...(options.dataDir ? { DATA_DIR: options.dataDir } : {}) };
  const memory: string[] = [];
  const logFd = options.logFile ? openSync(options.logFile, 'a') : undefined;
  const out = logFd ?? 'pipe';
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    stdio: ['ignore', out, options.onStderr ? 'pipe' : out],
  });
  if (logFd !== undefined) closeSync(logFd);
  child.stdout?.on('data', (chunk: Buffer) => memory.push(chunk.toString('utf8')));
  if (options.onStderr) child.stderr?.on('data', options.onStderr);
  else child.stderr?.on('data', (chunk: Buffer) => memory.push(chunk.toString('utf8')));
  const exited = new Promise<ExitStatus>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const output = (): string => memory.join('');
  const logTail = (lines = options.tailLines ?? 30): string => {
    let text = output();
    if (options.logFile) {
      try {
        text = readFileSync(options.logFile, 'utf8');
      } catch {
        return '(no log)';
      }
    }
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  };
  const service: RunningService = {
    child,
    port: options.port,
    base: `http://127.0.0.1:${options.port}`,
    dataDir: options.dataDir,
    exited,
    alive: true,
    startMs: 0,
    output,
    logTail,
    stop: async (graceMs = 30_000) => {
      if (!service.alive) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  void exited.then(() => (service.alive = false));
  options.onSpawn?.(service);

  const url = service.base + (options.readyPath ?? '/api/health/ready');
  const answers = async (): Promise<boolean> => {
    if (options.readyLine !== undefined) return output().includes(options.readyLine);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.ok || options.anyAnswer === true;
    } catch {
      return false; // not listening yet
    }
  };
  const timeoutMs = options.timeoutMs ?? 90_000;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const how = child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
      throw new Error(`${name} exited (${how}) before it answered; the last lines of its log:\n${logTail()}`);
    }
    if (await answers()) break;
    if (Date.now() - started > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(
        `${name} did not answer${options.readyLine === undefined ? ` ${url}` : ''} within ${timeoutMs} ms; the last lines of its log:\n${logTail()}`,
      );
    }
    await sleep(options.intervalMs ?? 100);
  }
  service.startMs = Date.now() - started;
  return service;
}

// ---------------------------------------------------------------- fixtures through the API

export interface Answer<T = any> {
  status: number;
  headers: Headers;
  /** The body parsed as JSON; undefined when it is not JSON. */
  body: T;
  text: string;
}

export interface CallOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as the bearer. */
  token?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** One request to the service at `base`. */
export async function call<T = any>(base: string, method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(base + path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs),
  });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body: body as T, text };
}

export interface Credentials {
  email: string;
  password: string;
}

export interface NewAccount extends Credentials {
  firstname: string;
  surname: string;
  phoneNumber?: string;
}

export interface Session {
  accessToken: string;
  [field: string]: any;
}

export interface CreatedToken {
  id: string;
  /** The token itself, shown once. */
  token: string;
  [field: string]: any;
}

/** POST /api/auth/register; its answer (`{user, …}`), or an error unless 201. */
export async function register(base: string, account: NewAccount): Promise<{ user: { id: string; [field: string]: any } }> {
  const res = await call(base, 'POST', '/api/auth/register', { body: account });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  return res.body;
}

/** POST /api/auth/login; its answer (`{accessToken, …}`), or an error unless 200. */
export async function login(base: string, credentials: Credentials): Promise<Session> {
  const res = await call(base, 'POST', '/api/auth/login', { body: { email: credentials.email, password: credentials.password } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
  return res.body;
}

/** POST /api/tokens with a session; its answer (`{id, token, …}`), or an error unless 201. */
export async function createToken(
  base: string,
  session: string,
  token: { name: string; scopes: string[]; durationDays: number },
): Promise<CreatedToken> {
  const res = await call(base, 'POST', '/api/tokens', { token: session, body: token });
  if (res.status !== 201) throw new Error(`token creation failed: ${res.status} ${res.text}`);
  return res.body;
}
