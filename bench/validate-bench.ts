// npm run bench [-- --instances 2 --connections 64 --duration 20 --warmup 5 --rounds 1]
//   [--syslog-url tls://127.0.0.1:6514 --syslog-ca ca.pem --syslog-format fhir]  (the audit stream on during the run)
//
// Starts the real app (built, production mode) on a fresh PostgreSQL (embedded unless
// DATABASE_URL), seeds 200 users and 2 000 tokens through the API, then drives
// POST /api/mcp/validate with 90 % valid tokens (spread over all of them), 5 % revoked and
// 5 % bad signatures. In the same run it drives a ceiling server (a bare Fastify route that
// only checks the HS256 signature) under the same load, and prints both, their ratio, the
// audit count (checked validations plus throttled counts) against the answered requests, and (with 2 instances) the delay from a
// revocation's answer on one instance to its rejection on the other.
// Results also go to bench/results/latest.json.
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, cpus, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { EmbeddedPostgres } from '../src/database/embedded-postgres.js';
import { steadyLoad, type SteadyResult } from './steady-load.js';
import { createToken, freePort, login, register, startService, type RunningService } from '../test/support/harness.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '1' },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    trials: { type: 'string', default: '200' },
    /** Service and ceiling runs, alternated; the round with the median ratio is printed in full. */
    rounds: { type: 'string', default: '1' },
    'cpu-prof': { type: 'boolean', default: false },
    /** Extra settings for the embedded PostgreSQL, `--pg name=value` (repeatable). */
    pg: { type: 'string', multiple: true, default: [] },
    /** Skip the ceiling run (for quick before/after measurements of the service alone). */
    'skip-ceiling': { type: 'boolean', default: false },
    /** Print the statements PostgreSQL spent the most time on during the service run (pg_stat_statements). */
    'pg-stats': { type: 'boolean', default: false },
    /** The instances' LOG_LEVEL; by default the service's default, info (one line per request). */
    'log-level': { type: 'string' },
    /**
     * Also drive GET /api/health on the same instances after each service run: a route that does no
     * work of its own, through the same Nest, Fastify, hooks, request log and metrics. Its rate over
     * the ceiling's bounds what the validate route could reach on this machine.
     */
    floor: { type: 'boolean', default: false },
    /** Skip the introspection runs (the service's and the peer's). */
    'skip-introspection': { type: 'boolean', default: false },
    /** Seconds of each steady-rate run (0: none). */
    'steady-seconds': { type: 'string', default: '30' },
    /**
     * Stream the audit log to this syslog receiver while measuring (AUDIT_SYSLOG_URL, e.g.
     * tls://127.0.0.1:6514), with `--syslog-ca` (its CA, PEM file) and `--syslog-format` (json or fhir).
     */
    'syslog-url': { type: 'string' },
    'syslog-ca': { type: 'string' },
    'syslog-format': { type: 'string' },
  },
});
const LOG_LEVEL = values['log-level'] ?? 'info';
const PG_SETTINGS = Object.fromEntries(
  (values.pg ?? []).map((kv) => {
    const at = kv.indexOf('=');
    if (at <= 0) throw new Error(`--pg expects name=value, got ${kv}`);
    return [kv.slice(0, at), kv.slice(at + 1)];
  }),
);
const INSTANCES = Number(values.instances);
const CONNECTIONS = Number(values.connections);
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const TRIALS = Number(values.trials);
const ROUNDS = Number(values.rounds);
const STEADY_SECONDS = Number(values['steady-seconds']);
const INTROSPECTION = !values['skip-introspection'];
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds expects a whole number of at least 1, got ${values.rounds}`);
const USERS = 200;
const PEER_VERSION = (
  JSON.parse(readFileSync(join(process.cwd(), 'node_modules/oidc-provider/package.json'), 'utf8')) as { version: string }
).version;
const TOKENS = 2000;
const here = dirname(fileURLToPath(import.meta.url));
const distRoot = join(here, '..');

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

async function json(method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(url, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

interface LoadResult {
  requestsPerSecond: number;
  answered: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  timeouts: number;
  statuses: Record<string, number>;
}

/** What a run drives: the validate route, the floor, the service's introspection, or the peer's. */
type Kind = 'validate' | 'floor' | 'introspect' | 'peer';

/** A token mix and, for introspection, the client's Basic credentials. */
interface Mix {
  valid: string[];
  revoked: string[];
  forged: string[];
  basic?: string;
}

const PATHS: Record<Kind, string> = {
  validate: '/api/mcp/validate',
  floor: '/api/health',
  introspect: '/api/oauth/introspect',
  peer: '/token/introspection',
};

/** The i-th token of the mix: 18/20 valid, 1/20 revoked, 1/20 bad (a bad signature, or garbage for the peer). */
function tokenOf(mix: Mix, i: number): string {
  const r = i % 20;
  const pool = r < 18 ? mix.valid : r === 18 ? mix.revoked : mix.forged;
  return pool[(i * 7919) % pool.length];
}

/** The i-th request of a run of this kind: method, headers and body. */
function requestOf(kind: Kind, mix: Mix, i: number): { method: string; headers: Record<string, string>; body?: string } {
  if (kind === 'floor') return { method: 'GET', headers: { 'user-agent': 'hospiai-bench' } };
  const token = tokenOf(mix, i);
  if (kind === 'validate') return { method: 'POST', headers: { authorization: `Bearer ${token}`, 'user-agent': 'hospiai-bench' } };
  return {
    method: 'POST',
    headers: { authorization: `Basic ${mix.basic}`, 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'hospiai-bench' },
    body: `token=${encodeURIComponent(token)}`,
  };
}

/**
 * Drives one or several targets at once (connections split between them): POST /api/mcp/validate
 * with the token mix, GET /api/health (`floor`), or an introspection endpoint with the mix.
 */
async function load(targets: string[], tokens: Mix, seconds: number, kind: Kind = 'validate'): Promise<LoadResult> {
  const per = Math.max(1, Math.floor(CONNECTIONS / targets.length));
  const runs = await Promise.all(
    targets.map(
      (url) =>
        new Promise<autocannon.Result>((resolve, reject) => {
          let i = Math.floor(Math.random() * 1e6);
          autocannon(
            {
              url: `${url}${PATHS[kind]}`,
              connections: per,
              duration: seconds,
              requests: [
                {
                  method: kind === 'floor' ? 'GET' : 'POST',
                  setupRequest: (req: autocannon.Request) => {
                    i += 1;
                    return { ...req, ...requestOf(kind, tokens, i) } as autocannon.Request;
                  },
                },
              ],
            },
            (err: Error | null, result: autocannon.Result) => (err ? reject(err) : resolve(result)),
          );
        }),
    ),
  );
  const answered = runs.reduce((n, r) => n + r['2xx'] + r.non2xx, 0);
  const statuses: Record<string, number> = {};
  for (const r of runs)
    for (const [k, v] of Object.entries(r.statusCodeStats ?? {})) statuses[k] = (statuses[k] ?? 0) + (v as { count: number }).count;
  return {
    requestsPerSecond: Math.round(answered / seconds),
    answered,
    p50: Math.max(...runs.map((r) => r.latency.p50)),
    p99: Math.max(...runs.map((r) => r.latency.p99)),
    max: Math.max(...runs.map((r) => r.latency.max)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    timeouts: runs.reduce((n, r) => n + r.timeouts, 0),
    statuses,
  };
}

/**
 * `/proc/<pid>/stat` fields after the command name: [state, ppid, …] (with `mainThread`, those of
 * `/proc/<pid>/task/<pid>/stat`, the main thread's alone); undefined once the process is gone.
 */
function procStat(pid: number, mainThread = false): string[] | undefined {
  try {
    const text = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds used so far by a process's main thread alone (its JavaScript, not its helper threads). */
function mainThreadSeconds(pids: number[]): number {
  if (process.platform !== 'linux') return NaN;
  let ticks = 0;
  for (const pid of pids) {
    const st = procStat(pid, true);
    if (st) ticks += Number(st[11]) + Number(st[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

/**
 * Seconds that these processes' main threads have spent so far runnable but waiting for a core
 * (the second field of /proc/<pid>/task/<pid>/schedstat): time a busy machine takes from them.
 */
function mainThreadWaitSeconds(pids: number[]): number {
  if (process.platform !== 'linux') return NaN;
  let ns = 0;
  for (const pid of pids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
    } catch {
      // No scheduler statistics on this system (the instances run throughout): unknown, not zero.
      return NaN;
    }
  }
  return ns / 1e9;
}

/** The whole machine's CPU ticks so far (/proc/stat): busy, idle (with I/O wait) and stolen by the hypervisor. */
function machineTicks(): { busy: number; idle: number; steal: number } | undefined {
  if (process.platform !== 'linux') return undefined;
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6], idle: f[3] + f[4], steal: f[7] ?? 0 };
}

/** What a measured run cost the machine: the load generator's CPU (this process) and the cores' use. */
interface RunCost {
  /** This process's CPU per answer: the load generator. */
  generatorMicrosPerRequest: number;
  /** Shares of the machine's CPU time over the run, in percent. */
  machineBusyPercent?: number;
  stealPercent?: number;
}

async function costOf<T extends LoadResult>(run: () => Promise<T>): Promise<{ result: T; cost: RunCost }> {
  const cpu0 = process.cpuUsage();
  const m0 = machineTicks();
  const result = await run();
  const cpu = process.cpuUsage(cpu0);
  const m1 = machineTicks();
  const cost: RunCost = { generatorMicrosPerRequest: Math.round((cpu.user + cpu.system) / result.answered) };
  if (m0 && m1) {
    const busy = m1.busy - m0.busy;
    const steal = m1.steal - m0.steal;
    const total = busy + steal + (m1.idle - m0.idle);
    cost.machineBusyPercent = Math.round((busy / total) * 100);
    cost.stealPercent = Math.round((steal / total) * 100);
  }
  return { result, cost };
}

/**
 * CPU seconds (user + system) used so far by these processes, their live children, and the
 * children they have reaped (PostgreSQL's exited backends): a cost per request that holds
 * when the machine is shared, where requests per second do not.
 */
function cpuSeconds(roots: number[]): number {
  if (process.platform !== 'linux') return NaN;
  let ticks = 0;
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  for (const root of roots) {
    const own = procStat(root);
    if (!own) continue;
    ticks += Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
    for (const d of all) {
      const st = procStat(Number(d));
      if (st && Number(st[1]) === root) ticks += Number(st[11]) + Number(st[12]);
    }
  }
  return ticks / TICKS_PER_SECOND;
}

function quantile(samples: number[], q: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

/** What the run started and must stop however it ends: the servers, the database, the folder. */
interface RunState {
  work: string;
  children: RunningService[];
  embedded?: EmbeddedPostgres;
  dropDb?: () => Promise<void>;
}

/** The run's folder, and its clean-up on exit or on SIGINT, SIGTERM or SIGHUP. */
function prepareRun(): { run: RunState; cleanUp: () => Promise<void>; release: () => void } {
  const work = mkdtempSync(join(tmpdir(), 'hospiai-bench-'));
  chmodSync(work, 0o755); // the embedded server's account must reach its folder
  const run: RunState = { work, children: [] };
  let cleaning: Promise<void> | undefined;
  // Everything the run started goes with it, however it ends: the servers, the database, the folder.
  const cleanUp = (): Promise<void> =>
    (cleaning ??= (async () => {
      await Promise.all(run.children.map((c) => c.stop(20_000)));
      if (run.embedded) await run.embedded.destroy();
      await run.dropDb?.();
      rmSync(work, { recursive: true, force: true });
    })());
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping the servers and the database…`);
    void cleanUp().finally(() => process.exit(128 + osConstants.signals[signal]));
  };
  for (const signal of signals) process.once(signal, onSignal);
  return { run, cleanUp, release: () => signals.forEach((signal) => process.off(signal, onSignal)) };
}

/** A fresh database: a new one on DATABASE_URL, or else an embedded PostgreSQL in the run's folder. Returns its URL. */
async function startDatabase(run: RunState): Promise<string> {
  let databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    const name = `hospiai_bench_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
    const adminUrl = databaseUrl;
    const u = new URL(databaseUrl);
    u.pathname = `/${name}`;
    databaseUrl = u.toString();
    run.dropDb = async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    };
    return databaseUrl;
  }
  run.embedded = new EmbeddedPostgres({
    dir: join(run.work, 'db'),
    log,
    settings: {
      shared_buffers: '512MB',
      ...(values['pg-stats'] ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {}),
      ...PG_SETTINGS,
    },
  });
  return run.embedded.start();
}

/** Passes a child's standard error on to ours, each chunk marked with the script's name. */
const forwardStderr =
  (file: string) =>
  (d: Buffer): void =>
    void process.stderr.write(`[${file.split('/').pop()}] ${d}`);

interface App {
  child: ChildProcess;
  url: string;
}

/** The service's instances (built, production mode), one after the other, each waited for; their logs in the run's folder. */
async function startInstances(run: RunState, secret: string, databaseUrl: string): Promise<App[]> {
  const apps: App[] = [];
  // One audit checkpoint signing key for the deployment, as production requires.
  const signingKey = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
  for (let i = 0; i < INSTANCES; i++) {
    const port = await freePort();
    const logFile = join(run.work, `app${i}.log`);
    const app = await startService({
      name: `app instance ${i + 1}`,
      script: join(distRoot, 'src/main.js'),
      cwd: process.cwd(),
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'production',
        JWT_SECRET: secret,
        AUDIT_SIGNING_KEY: signingKey,
        AUDIT_CHECKPOINT_FILE: join(run.work, `audit-checkpoints-${i}.ndjson`),
        DATABASE_URL: databaseUrl,
        PORT: String(port),
        // The default log level, as deployed (one JSON line per request), written to a file.
        LOG_LEVEL,
        ADMIN_EMAIL: 'bench-admin@chu-exemple.fr',
        ADMIN_PASSWORD: 'bench admin passphrase',
        // The seeding registers 200 accounts from one address, and the load sends its 10 % of
        // failing tokens (some 20 000 a minute) from one address too: under the default limits
        // they would be answered 429. The failed-validation limit is off (0) rather than raised:
        // the throttler's in-memory store keeps one entry per hit in the window, so a limit far
        // above the default would cost per call what no deployment pays (it is bounded by the limit).
        RATE_LIMIT_REGISTER_PER_MINUTE: '1000000',
        RATE_LIMIT_LOGIN_PER_MINUTE: '1000000',
        RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE: '1000000',
        RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE: '0',
        ...(values['syslog-url'] ? { AUDIT_SYSLOG_URL: values['syslog-url'] } : {}),
        ...(values['syslog-ca'] ? { AUDIT_SYSLOG_CA_FILE: values['syslog-ca'] } : {}),
        ...(values['syslog-format'] ? { AUDIT_SYSLOG_FORMAT: values['syslog-format'] } : {}),
      },
      nodeArgs: values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(process.cwd(), 'bench', 'results', 'profiles')}`] : [],
      port,
      dataDir: join(run.work, `app${i}`),
      logFile,
      onStderr: forwardStderr('src/main.js'),
      onSpawn: (service) => run.children.push(service),
      readyPath: '/api/health/ready',
      timeoutMs: 60_000,
      intervalMs: 200,
      tailLines: 5,
    });
    apps.push({ child: app.child, url: app.base });
  }
  return apps;
}

/** The ceiling server, on a port of its own. */
async function startCeiling(run: RunState, secret: string): Promise<RunningService> {
  const port = await freePort();
  return startService({
    name: 'the ceiling server',
    script: join(distRoot, 'bench/ceiling-server.js'),
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '', JWT_SECRET: secret, PORT: String(port) },
    port,
    onStderr: forwardStderr('bench/ceiling-server.js'),
    onSpawn: (service) => run.children.push(service),
    // The ceiling route is POST-only: any answer (a 404 to this GET) means it is listening.
    readyPath: '/api/mcp/validate',
    anyAnswer: true,
    timeoutMs: 60_000,
    intervalMs: 200,
    tailLines: 5,
  });
}

const PEER_CLIENT_ID = 'hospiai-bench';

/** The peer (oidc-provider, bench/peer-oidc-provider.mjs), on a port of its own, with a client of its own. */
async function startPeer(run: RunState): Promise<{ service: RunningService; secret: string }> {
  const port = await freePort();
  const secret = randomBytes(32).toString('base64url');
  const service = await startService({
    name: 'the peer (oidc-provider)',
    script: join(process.cwd(), 'bench/peer-oidc-provider.mjs'),
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '', PORT: String(port), CLIENT_ID: PEER_CLIENT_ID, CLIENT_SECRET: secret },
    port,
    onSpawn: (s) => run.children.push(s),
    readyLine: 'peer listening',
    timeoutMs: 60_000,
    intervalMs: 200,
    tailLines: 5,
  });
  return { service, secret };
}

const basicOf = (id: string, secret: string): string =>
  Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

/** Runs `task` over 0..n-1, `width` at a time. */
async function inParallel(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/**
 * As many tokens as the service gets, issued by the peer's client_credentials grant; one in 20
 * revoked through its revocation endpoint (RFC 7009); garbage for the bad ones.
 */
async function seedPeer(base: string, secret: string): Promise<Mix> {
  const basic = basicOf(PEER_CLIENT_ID, secret);
  const form = { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' };
  const all: string[] = new Array(TOKENS);
  await inParallel(TOKENS, 8, async (t) => {
    const res = await fetch(`${base}/token`, {
      method: 'POST',
      headers: form,
      body: 'grant_type=client_credentials&scope=read%3Adata%20write%3Abookings',
    });
    if (res.status !== 200) throw new Error(`peer token: ${res.status} ${await res.text()}`);
    all[t] = ((await res.json()) as { access_token: string }).access_token;
  });
  const revoked = all.filter((_, i) => i % 20 === 0);
  for (const token of revoked) {
    const res = await fetch(`${base}/token/revocation`, { method: 'POST', headers: form, body: `token=${encodeURIComponent(token)}` });
    if (res.status !== 200) throw new Error(`peer revocation: ${res.status}`);
  }
  const valid = all.filter((_, i) => i % 20 !== 0);
  const forged = valid.slice(0, 100).map(() => randomBytes(32).toString('base64url').slice(0, 43));
  return { valid, revoked, forged, basic };
}

/** An MCP client of the service (registered by the admin), for its introspection endpoint. */
async function serviceClient(api: string): Promise<string> {
  const admin = await login(api, { email: 'bench-admin@chu-exemple.fr', password: 'bench admin passphrase' });
  const created = await json('POST', `${api}/api/mcp/clients`, { name: 'bench introspection' }, admin.accessToken);
  if (created.status !== 201) throw new Error(`MCP client: ${created.status} ${JSON.stringify(created.body)}`);
  return basicOf(created.body.clientId as string, created.body.clientSecret as string);
}

interface Tokens {
  valid: string[];
  revoked: string[];
  forged: string[];
}

/** Registers the users (a session each) and their tokens through the API; revokes one token in 20; forges bad signatures. */
async function seed(api: string): Promise<{ sessions: string[]; tokens: Tokens }> {
  const sessions: string[] = [];
  for (let u = 0; u < USERS; u++) {
    const email = `bench.${u}@chu-exemple.fr`;
    const password = 'bench user passphrase';
    await register(api, { email, password, firstname: 'Bench', surname: `User${u}`, phoneNumber: '+33 1 00 00 00 00' });
    sessions.push((await login(api, { email, password })).accessToken);
  }
  const all: { id: string; token: string; session: string }[] = [];
  for (let t = 0; t < TOKENS; t++) {
    const session = sessions[t % USERS];
    const created = await createToken(api, session, { name: `bench ${t}`, scopes: ['read:data', 'write:bookings'], durationDays: 30 });
    all.push({ id: created.id, token: created.token, session });
  }
  const revoked = all.filter((_, i) => i % 20 === 0);
  for (const r of revoked) await json('DELETE', `${api}/api/tokens/${r.id}`, undefined, r.session);
  const valid = all.filter((_, i) => i % 20 !== 0).map((t) => t.token);
  const forged = valid.slice(0, 100).map((t) => `${t.slice(0, t.lastIndexOf('.') + 1)}${randomBytes(32).toString('base64url')}`);
  return { sessions, tokens: { valid, revoked: revoked.map((r) => r.token), forged } };
}

/** What the run reads from the servers and the database to count answers, events and CPU time. */
interface Probes {
  db: pg.Client;
  auditCount: () => Promise<number>;
  served: () => Promise<number>;
  introspectServed: () => Promise<number>;
  introspectEvents: () => Promise<number>;
  postmaster: () => number[];
  appPids: number[];
  /** Whether the database is the embedded one, whose processes' CPU time can be read. */
  embedded: boolean;
}

async function openProbes(run: RunState, databaseUrl: string, apps: App[]): Promise<Probes> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  // The answers the audit log accounts for: one event per validation checked, and for those the
  // failed-validation limit refused (429) one `throttled` event per address and minute holding
  // their count. The limit is off in this run (startInstances), so no count can still be in an
  // instance's memory, unwritten, when this reads.
  const auditCount = async (): Promise<number> =>
    Number(
      (
        await db.query(
          `SELECT count(*) FILTER (WHERE "outcome" <> 'throttled')
                  + coalesce(sum(("details"->>'count')::bigint) FILTER (WHERE "outcome" = 'throttled'), 0) AS n
             FROM "audit_event" WHERE "type" = 'token.validate'`,
        )
      ).rows[0].n,
    );
  // Answers the servers sent (their own counter): autocannon does not count the requests still
  // in flight when it stops, although the servers answer (and audit) them.
  const served = async (): Promise<number> => {
    let n = 0;
    for (const a of apps) {
      const text = await (await fetch(`${a.url}/metrics`)).text();
      for (const m of text.matchAll(/^hospiai_validate_answers_total\{outcome="\w+"\} (\d+)$/gm)) n += Number(m[1]);
    }
    return n;
  };
  // Introspection answers (the HTTP counter of its route) and their events.
  const introspectServed = async (): Promise<number> => {
    let n = 0;
    for (const a of apps) {
      const text = await (await fetch(`${a.url}/metrics`)).text();
      for (const m of text.matchAll(/^hospiai_introspect_answers_total\{status="\d+"\} (\d+)$/gm)) n += Number(m[1]);
    }
    return n;
  };
  const introspectEvents = async (): Promise<number> =>
    Number((await db.query(`SELECT count(*) AS n FROM "audit_event" WHERE "type" = 'token.introspect'`)).rows[0].n);
  const postmaster = (): number[] => {
    const pidFile = run.embedded ? join(run.work, 'db', 'pg', 'postmaster.pid') : undefined;
    return pidFile && existsSync(pidFile) ? [Number(readFileSync(pidFile, 'utf8').split('\n')[0])] : [];
  };
  const appPids = apps.map((a) => a.child.pid!).filter(Boolean);
  return { db, auditCount, served, introspectServed, introspectEvents, postmaster, appPids, embedded: Boolean(run.embedded) };
}

interface Round {
  service: LoadResult;
  /** The service's POST /api/oauth/introspect and the peer's introspection, same mix, connections and duration. */
  introspect?: LoadResult;
  peer?: LoadResult;
  ceiling?: LoadResult;
  ratio?: number;
  floor?: LoadResult;
  cpu: {
    appMicrosPerRequest: number;
    /** The instances' main threads alone, and how busy each was over the run (percent, averaged). */
    appMainThreadMicrosPerRequest: number;
    appMainThreadBusyPercent: number;
    /** The share of the run the instances' main threads were runnable but waiting for a core (percent, averaged). */
    appMainThreadWaitingPercent: number;
    databaseMicrosPerRequest?: number;
    ceilingMicrosPerRequest?: number;
    floorMicrosPerRequest?: number;
  };
  serviceCost: RunCost;
  ceilingCost?: RunCost;
  floorCost?: RunCost;
}

const cores = cpus().length;

// What the service could answer at most at the costs per answer measured in a round: each
// instance's main thread has one core at most, and all the processes (instances, PostgreSQL
// and the load generator) share the machine's cores. Unknown for a database elsewhere.
const boundOf = ({ cpu, serviceCost, ceiling: top }: Round) => {
  const allMicros =
    cpu.databaseMicrosPerRequest === undefined
      ? undefined
      : cpu.appMicrosPerRequest + cpu.databaseMicrosPerRequest + serviceCost.generatorMicrosPerRequest;
  const bounds = {
    mainThreads: Math.round((INSTANCES * 1e6) / cpu.appMainThreadMicrosPerRequest),
    machine: allMicros === undefined ? undefined : Math.round((cores * 1e6) / allMicros),
    allMicrosPerRequest: allMicros,
  };
  const bound = Math.min(bounds.mainThreads, bounds.machine ?? Infinity);
  return { bounds, bound, ratio: top ? +(bound / top.requestsPerSecond).toFixed(3) : undefined };
};
// The same bound were the validation itself free: the app at the floor's cost per request (a route
// that does nothing, through the same stack), the load generator at its cost against the floor,
// and PostgreSQL at its cost per answer in the service's run (the audit event's commit). Over the
// ceiling, the most any change to the validation's own work could reach, the audit unchanged.
const freeValidationBoundOf = ({ cpu, floorCost, ceiling: top }: Round) => {
  if (cpu.floorMicrosPerRequest === undefined || cpu.databaseMicrosPerRequest === undefined || !floorCost || !top) return undefined;
  const microsPerRequest = cpu.floorMicrosPerRequest + floorCost.generatorMicrosPerRequest + cpu.databaseMicrosPerRequest;
  const requestsPerSecond = Math.round((cores * 1e6) / microsPerRequest);
  return { microsPerRequest, requestsPerSecond, ratio: +(requestsPerSecond / top.requestsPerSecond).toFixed(3) };
};

/** Prints the statements PostgreSQL spent the most time on, and the row updates that stayed on their page (--pg-stats). */
async function printPgStats(db: pg.Client): Promise<void> {
  const { rows } = await db.query(
    `SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms, rows,
            left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
       FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15`,
  );
  process.stderr.write(`pg_stat_statements over the ${DURATION} s service run:\n`);
  for (const r of rows)
    process.stderr.write(
      `  ${String(r.total_ms).padStart(9)} ms  ${String(r.calls).padStart(7)} calls  ${String(r.mean_ms).padStart(8)} ms/call  ${String(r.rows).padStart(8)} rows  ${r.query}\n`,
    );
  // Row updates that could stay on their page (HOT: no index entry to add) against all of them, since the start.
  const updates = await db.query(
    `SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE n_tup_upd > 0 ORDER BY n_tup_upd DESC LIMIT 5`,
  );
  for (const r of updates.rows) process.stderr.write(`  updates of ${r.relname}: ${r.n_tup_upd}, of which HOT ${r.n_tup_hot_upd}\n`);
}

/** One round: warm-up and measured run on the service, then on the floor (--floor) and on the ceiling (unless --skip-ceiling). */
async function measureRound(
  r: number,
  targets: string[],
  tokens: Tokens,
  probes: Probes,
  ceiling: RunningService,
  intro?: { mix: Mix; peerUrl: string; peerMix: Mix },
): Promise<Round> {
  const { db, served, postmaster, appPids } = probes;
  const ceilingUrl = ceiling.base;
  const of = ROUNDS > 1 ? ` (round ${r} of ${ROUNDS})` : '';
  log(`warm-up ${WARMUP} s, then ${DURATION} s at ${CONNECTIONS} connections on the service (${INSTANCES} instance(s))${of}…`);
  await load(targets, tokens, WARMUP);
  if (values['pg-stats']) await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()');
  const cpuBefore = {
    app: cpuSeconds(appPids),
    main: mainThreadSeconds(appPids),
    waiting: mainThreadWaitSeconds(appPids),
    db: cpuSeconds(postmaster()),
  };
  const answersBefore = await served();
  const startedAt = performance.now();
  const { result: service, cost: serviceCost } = await costOf(() => load(targets, tokens, DURATION));
  const elapsed = (performance.now() - startedAt) / 1000;
  const mainSeconds = mainThreadSeconds(appPids) - cpuBefore.main;
  const waitingSeconds = mainThreadWaitSeconds(appPids) - cpuBefore.waiting;
  const answersDuring = (await served()) - answersBefore;
  const cpu: Round['cpu'] = {
    appMicrosPerRequest: Math.round(((cpuSeconds(appPids) - cpuBefore.app) / answersDuring) * 1e6),
    appMainThreadMicrosPerRequest: Math.round((mainSeconds / answersDuring) * 1e6),
    appMainThreadBusyPercent: Math.round((mainSeconds / elapsed / appPids.length) * 100),
    appMainThreadWaitingPercent: Math.round((waitingSeconds / elapsed / appPids.length) * 100),
    databaseMicrosPerRequest: probes.embedded ? Math.round(((cpuSeconds(postmaster()) - cpuBefore.db) / answersDuring) * 1e6) : undefined,
  };
  if (values['pg-stats']) await printPgStats(db);
  let floorRun: LoadResult | undefined;
  let floorCost: RunCost | undefined;
  if (values.floor) {
    log(`warm-up ${WARMUP} s, then ${DURATION} s at ${CONNECTIONS} connections on GET /api/health (the floor)${of}…`);
    await load(targets, tokens, WARMUP, 'floor');
    const floorBefore = cpuSeconds(appPids);
    ({ result: floorRun, cost: floorCost } = await costOf(() => load(targets, tokens, DURATION, 'floor')));
    cpu.floorMicrosPerRequest = Math.round(((cpuSeconds(appPids) - floorBefore) / floorRun.answered) * 1e6);
  }
  let introspect: LoadResult | undefined;
  let peer: LoadResult | undefined;
  if (intro) {
    log(`warm-up ${WARMUP} s, then ${DURATION} s at ${CONNECTIONS} connections on the service's introspection${of}…`);
    await load(targets, intro.mix, WARMUP, 'introspect');
    introspect = await load(targets, intro.mix, DURATION, 'introspect');
    log(`warm-up ${WARMUP} s, then ${DURATION} s at ${CONNECTIONS} connections on the peer's introspection (oidc-provider)${of}…`);
    await load([intro.peerUrl], intro.peerMix, WARMUP, 'peer');
    peer = await load([intro.peerUrl], intro.peerMix, DURATION, 'peer');
  }
  let ceilingRun: LoadResult | undefined;
  let ceilingCost: RunCost | undefined;
  if (!values['skip-ceiling']) {
    log(`warm-up ${WARMUP} s, then ${DURATION} s at ${CONNECTIONS} connections on the ceiling server${of}…`);
    await load([ceilingUrl], tokens, WARMUP);
    const ceilingBefore = cpuSeconds([ceiling.child.pid!]);
    ({ result: ceilingRun, cost: ceilingCost } = await costOf(() => load([ceilingUrl], tokens, DURATION)));
    cpu.ceilingMicrosPerRequest = Math.round(((cpuSeconds([ceiling.child.pid!]) - ceilingBefore) / ceilingRun.answered) * 1e6);
  }
  const ratio = ceilingRun ? +(service.requestsPerSecond / ceilingRun.requestsPerSecond).toFixed(3) : undefined;
  return { service, introspect, peer, ceiling: ceilingRun, ratio, floor: floorRun, cpu, serviceCost, ceilingCost, floorCost };
}

interface Revocation {
  trials: number;
  nextCallRejected: number;
  medianMs: number;
  maxMs: number;
  acceptedAfterRevokeOnSameInstance: number;
}

/**
 * With 2 instances: tokens created and revoked on the first, checked on the second until it
 * refuses them; the delay from the revoke's answer to that refusal.
 */
async function measureRevocation(apps: App[], session: string): Promise<Revocation> {
  log(`revocation delay across instances: ${TRIALS} trials…`);
  const delays: number[] = [];
  let acceptedAfterOnSameInstance = 0;
  let nextCallRejected = 0;
  for (let i = 0; i < TRIALS; i++) {
    const created = await json('POST', `${apps[0].url}/api/tokens`, { name: `rev ${i}`, scopes: ['read:data'], durationDays: 1 }, session);
    if (created.status !== 201) throw new Error(`token: ${created.status}`);
    const tok = created.body.token as string;
    // The other instance must accept the token before the revoke (the second call from its cache):
    // otherwise a refusal after the revoke would prove nothing.
    for (let k = 0; k < 2; k++) {
      const before = await json('POST', `${apps[1].url}/api/mcp/validate`, undefined, tok);
      if (before.status !== 200) throw new Error(`the other instance refused a fresh token before the revoke: ${before.status}`);
    }
    const del = await fetch(`${apps[0].url}/api/tokens/${created.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${session}` },
    });
    const answeredAt = performance.now();
    if (del.status !== 204) throw new Error(`revoke: ${del.status}`);
    if ((await json('POST', `${apps[0].url}/api/mcp/validate`, undefined, tok)).status === 200) acceptedAfterOnSameInstance += 1;
    let first = true;
    for (;;) {
      const r = await json('POST', `${apps[1].url}/api/mcp/validate`, undefined, tok);
      if (r.status === 401 && r.body.code === 'token_revoked') {
        if (first) nextCallRejected += 1;
        delays.push(performance.now() - answeredAt);
        break;
      }
      first = false;
      if (performance.now() - answeredAt > 5000) throw new Error('revocation not seen within 5 s');
    }
  }
  return {
    trials: TRIALS,
    nextCallRejected,
    medianMs: +quantile(delays, 0.5).toFixed(2),
    maxMs: +Math.max(...delays).toFixed(2),
    acceptedAfterRevokeOnSameInstance: acceptedAfterOnSameInstance,
  };
}

/** The round printed in full: the one with the median ratio (or median service rate without a ceiling). */
function medianRound(rounds: Round[]): Round {
  const ranked = [...rounds].sort((x, y) => (x.ratio ?? x.service.requestsPerSecond) - (y.ratio ?? y.service.requestsPerSecond));
  return ranked[Math.floor((ranked.length - 1) / 2)];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};

/** Validate, introspection and the peer: medians over the rounds, and the ratios of each round's runs (their medians). */
function peerComparison(rounds: Round[]) {
  const of = (pick: (r: Round) => LoadResult | undefined) => {
    const runs = rounds.map(pick).filter((x): x is LoadResult => x !== undefined);
    return runs.length ? { rps: median(runs.map((x) => x.requestsPerSecond)), p99: median(runs.map((x) => x.p99)) } : undefined;
  };
  const withPeer = rounds.filter((r) => r.peer && r.introspect);
  return {
    validate: of((r) => r.service)!,
    introspect: of((r) => r.introspect),
    peer: of((r) => r.peer),
    ratios: withPeer.length
      ? {
          validateOverPeer: +median(withPeer.map((r) => r.service.requestsPerSecond / r.peer!.requestsPerSecond)).toFixed(3),
          introspectOverPeer: +median(withPeer.map((r) => r.introspect!.requestsPerSecond / r.peer!.requestsPerSecond)).toFixed(3),
        }
      : undefined,
  };
}

/** The figures of the run, as bench/results/latest.json holds them. */
function resultsOf(
  rounds: Round[],
  shown: Round,
  audit: { answered: number; events: number },
  revocation: Revocation | undefined,
  embedded: boolean,
  introAudit: { answered: number; events: number },
  steady: SteadyResult[],
) {
  const { service, ceiling: top, floor, cpu, serviceCost, ceilingCost, floorCost } = shown;
  const versus = peerComparison(rounds);
  const floorRatio = floor && top ? +(floor.requestsPerSecond / top.requestsPerSecond).toFixed(3) : undefined;
  const ceilingMicros = cpu.ceilingMicrosPerRequest;
  const { bounds, bound, ratio: boundRatio } = boundOf(shown);
  const freeValidation = freeValidationBoundOf(shown);
  const { answered, events } = audit;
  const ratio = shown.ratio;
  return {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
    database: embedded ? 'embedded PostgreSQL 18 (Unix socket)' : 'DATABASE_URL',
    instances: INSTANCES,
    connections: CONNECTIONS,
    durationSeconds: DURATION,
    logLevel: LOG_LEVEL,
    mix: '90% valid (1900 tokens), 5% revoked (100), 5% bad signature',
    service,
    ceiling: top ? { ...top, rps: top.requestsPerSecond } : undefined,
    ratio,
    floor,
    floorRatio,
    rounds: rounds.map((r) => ({
      ratio: r.ratio,
      ratioAllowedByCosts: boundOf(r).ratio,
      ratioAllowedWereTheValidationFree: freeValidationBoundOf(r)?.ratio,
      service: r.service.requestsPerSecond,
      ceiling: r.ceiling?.requestsPerSecond,
      floor: r.floor?.requestsPerSecond,
      p99: r.service.p99,
      introspect: r.introspect?.requestsPerSecond,
      introspectP99: r.introspect?.p99,
      peer: r.peer?.requestsPerSecond,
      peerP99: r.peer?.p99,
      cpuMicrosPerRequest: r.cpu,
    })),
    audit: {
      answeredRequests: answered,
      tokenValidateEvents: events,
      equal: answered === events,
      introspect: {
        answeredRequests: introAudit.answered,
        tokenIntrospectEvents: introAudit.events,
        equal: introAudit.answered === introAudit.events,
      },
    },
    // The figures the goals read (medians over the rounds; p99 in ms).
    validate: { rps: versus.validate.rps, p99: versus.validate.p99 },
    introspect: versus.introspect,
    peer: versus.peer,
    ratios: versus.ratios,
    ceilingMedian: top
      ? { rps: median(rounds.map((r) => r.ceiling?.requestsPerSecond ?? NaN)), p99: median(rounds.map((r) => r.ceiling?.p99 ?? NaN)) }
      : undefined,
    steady,
    cpuMicrosPerRequest: {
      service: cpu.appMicrosPerRequest,
      serviceMainThread: cpu.appMainThreadMicrosPerRequest,
      database: cpu.databaseMicrosPerRequest,
      loadGenerator: serviceCost.generatorMicrosPerRequest,
      ceiling: ceilingMicros,
      ceilingLoadGenerator: ceilingCost?.generatorMicrosPerRequest,
      floor: cpu.floorMicrosPerRequest,
      floorLoadGenerator: floorCost?.generatorMicrosPerRequest,
    },
    busyPercent: {
      serviceMainThread: cpu.appMainThreadBusyPercent,
      serviceMainThreadWaitingForACore: cpu.appMainThreadWaitingPercent,
      machineDuringService: serviceCost.machineBusyPercent,
      machineDuringCeiling: ceilingCost?.machineBusyPercent,
      stealDuringService: serviceCost.stealPercent,
      stealDuringCeiling: ceilingCost?.stealPercent,
    },
    serviceBound: { requestsPerSecond: bound, ...bounds, ratio: boundRatio },
    freeValidationBound: freeValidation,
    revocation,
  };
}

type Results = ReturnType<typeof resultsOf>;

function writeResults(out: Results): void {
  mkdirSync(join(process.cwd(), 'bench', 'results'), { recursive: true });
  writeFileSync(join(process.cwd(), 'bench', 'results', 'latest.json'), JSON.stringify(out, null, 2));
}

/** The run's figures as text, the median round in full. */
function printResults(out: Results, rounds: Round[], shown: Round): void {
  const { service, ceiling: top, floor, cpu, serviceCost, ceilingCost, floorCost } = shown;
  const { floorRatio, revocation } = out;
  const { answeredRequests: answered, tokenValidateEvents: events } = out.audit;
  const ceilingMicros = cpu.ceilingMicrosPerRequest;
  const { bounds, bound, ratio: boundRatio } = boundOf(shown);
  const freeValidation = freeValidationBoundOf(shown);
  const line = (name: string, r: LoadResult): string =>
    `${name.padEnd(24)} ${String(r.requestsPerSecond).padStart(8)} req/s   p50 ${String(r.p50).padStart(4)} ms   p99 ${String(r.p99).padStart(4)} ms   max ${String(r.max).padStart(5)} ms   errors ${r.errors + r.timeouts}   statuses ${JSON.stringify(r.statuses)}`;
  process.stdout.write(
    [
      `validate benchmark: ${out.machine.cpus} cores (${out.machine.cpuModel}), ${out.machine.memoryGb} GiB, Node ${out.machine.node}, ${out.database}`,
      `${INSTANCES} instance(s), ${CONNECTIONS} connections, ${DURATION} s after ${WARMUP} s warm-up; mix ${out.mix}; log level ${LOG_LEVEL}, to a file`,
      line('validate (service)', service),
      ...(shown.introspect ? [line('introspect (service)', shown.introspect)] : []),
      ...(shown.peer ? [line('introspect (peer)', shown.peer)] : []),
      ...(top
        ? [line('ceiling (HS256 only)', top), `ratio validate/ceiling: ${out.ratio} (information)`]
        : ['ceiling: skipped (--skip-ceiling)']),
      ...(out.ratios
        ? [
            `against the peer (oidc-provider ${PEER_VERSION} introspection, in-memory, no audit), medians of the rounds' ratios: ` +
              `validate/peer ${out.ratios.validateOverPeer} (goal ≥ 1.5), introspect/peer ${out.ratios.introspectOverPeer} (goal ≥ 1.0)`,
            `rounds (validate, introspect, peer): ` +
              rounds
                .map(
                  (r, i) =>
                    `${i + 1}: ${r.service.requestsPerSecond} / ${r.introspect?.requestsPerSecond} / ${r.peer?.requestsPerSecond} req/s, p99 ${r.service.p99} / ${r.introspect?.p99} / ${r.peer?.p99} ms`,
                )
                .join('; '),
          ]
        : []),
      ...out.steady.map(
        (st) =>
          `steady ${String(st.targetRate).padStart(5)} req/s (validate, ${st.seconds} s, latency from the scheduled time): answered ${st.rps} req/s, ` +
          `p50 ${st.p50} ms, p90 ${st.p90} ms, p99 ${st.p99} ms, p99.9 ${st.p999} ms, max ${st.max} ms; errors ${st.errors}; statuses ${JSON.stringify(st.statuses)}; ` +
          `generator lag p99 ${st.lagP99} ms, max ${st.lagMax} ms`,
      ),
      ...(floor
        ? [
            line('floor (GET /api/health)', floor) +
              `   CPU ${cpu.floorMicrosPerRequest} µs per request` +
              (floorRatio === undefined ? '' : `   ratio floor/ceiling: ${floorRatio}`),
          ]
        : []),
      ...(ROUNDS > 1
        ? [
            `rounds (service and ceiling alternated; the median round is shown above): ` +
              rounds
                .map((r, i) => {
                  const allowed = boundOf(r).ratio;
                  const free = freeValidationBoundOf(r)?.ratio;
                  return (
                    `${i + 1}: ${r.service.requestsPerSecond} req/s p99 ${r.service.p99} ms${r.ratio === undefined ? '' : ` ratio ${r.ratio}`}` +
                    (Number.isFinite(allowed)
                      ? ` (at most ${allowed}${free === undefined ? '' : `; ${free} were the validation free`})`
                      : '') +
                    (r.floor ? `, floor ${r.floor.requestsPerSecond} req/s` : '')
                  );
                })
                .join('; '),
          ]
        : []),
      `CPU per answered request: service ${cpu.appMicrosPerRequest} µs` +
        (Number.isFinite(cpu.appMainThreadMicrosPerRequest)
          ? ` (main thread ${cpu.appMainThreadMicrosPerRequest} µs, busy ${cpu.appMainThreadBusyPercent} % of the run` +
            (Number.isFinite(cpu.appMainThreadWaitingPercent) ? `, waiting for a core ${cpu.appMainThreadWaitingPercent} %` : '') +
            ')'
          : '') +
        (cpu.databaseMicrosPerRequest === undefined ? '' : `, PostgreSQL ${cpu.databaseMicrosPerRequest} µs`) +
        `, load generator ${serviceCost.generatorMicrosPerRequest} µs` +
        (ceilingMicros === undefined ? '' : `; ceiling ${ceilingMicros} µs, load generator ${ceilingCost?.generatorMicrosPerRequest} µs`) +
        ' (user + system time over the measured run)',
      ...(serviceCost.machineBusyPercent === undefined
        ? []
        : [
            `machine busy (of its ${cores} cores): ${serviceCost.machineBusyPercent} % during the service run` +
              (ceilingCost ? `, ${ceilingCost.machineBusyPercent} % during the ceiling's` : '') +
              `; taken by the hypervisor (steal): ${serviceCost.stealPercent} %` +
              (ceilingCost ? ` and ${ceilingCost.stealPercent} %` : ''),
          ]),
      ...(Number.isFinite(bound)
        ? [
            `at these costs the service could answer at most ${bound} req/s: ${INSTANCES === 1 ? 'its main thread allows' : `its ${INSTANCES} main threads allow`} ${bounds.mainThreads} (one core each)` +
              (bounds.machine === undefined
                ? ''
                : `, the ${cores} cores ${bounds.machine} (${bounds.allMicrosPerRequest} µs per answer, service, PostgreSQL and load generator together)`) +
              (boundRatio === undefined ? '' : `; a ratio of at most ${boundRatio} against this round's ceiling`),
          ]
        : []),
      ...(freeValidation && floorCost
        ? [
            `were the validation itself free (the app at the floor's ${cpu.floorMicrosPerRequest} µs per request, the load generator at its ${floorCost.generatorMicrosPerRequest} µs against the floor)` +
              `, with PostgreSQL's ${cpu.databaseMicrosPerRequest} µs per answer of the service's run (mostly the audit events' commits): at most ${freeValidation.requestsPerSecond} req/s on the ${cores} cores` +
              ` (${freeValidation.microsPerRequest} µs per answer), a ratio of at most ${freeValidation.ratio} against this round's ceiling`,
          ]
        : []),
      `audit: ${out.audit.introspect.answeredRequests} introspection requests answered by the service (its hospiai_introspect_answers_total), ${out.audit.introspect.tokenIntrospectEvents} token.introspect events: ${out.audit.introspect.equal ? 'equal' : 'DIFFERENT'}`,
      `audit: ${answered} validate requests answered by the service (warm-up included, from its hospiai_validate_answers_total), ${events} accounted for by token.validate events (one per checked validation, plus the counts of throttled ones): ${answered === events ? 'equal' : 'DIFFERENT'}`,
      ...(revocation
        ? [
            `revocation across instances (${revocation.trials} trials): next call on the other instance rejected ${revocation.nextCallRejected}/${revocation.trials}; delay from the revoke's answer median ${revocation.medianMs} ms, max ${revocation.maxMs} ms (goal: at most 100 ms, ${revocation.maxMs <= 100 ? 'held' : 'MISSED'}); accepted after the revoke's answer on the same instance: ${revocation.acceptedAfterRevokeOnSameInstance}`,
          ]
        : []),
    ].join('\n') + '\n',
  );
}

/**
 * Latency at a steady arrival rate on POST /api/mcp/validate (the same mix): at 1 000 req/s and
 * at half the most the service answered in the rounds (their median), STEADY_SECONDS each.
 */
async function measureSteady(url: string, tokens: Mix, rounds: Round[]): Promise<SteadyResult[]> {
  const most = [...rounds.map((r) => r.service.requestsPerSecond)].sort((a, b) => a - b)[Math.floor((rounds.length - 1) / 2)];
  const out: SteadyResult[] = [];
  for (const rate of [1000, Math.round(most / 2)]) {
    log(`steady rate: ${rate} req/s for ${STEADY_SECONDS} s on the service's validate (after 3 s at that rate)…`);
    let j = Math.floor(Math.random() * 1e6);
    const next = (): { method: string; path: string; headers: Record<string, string> } => ({
      path: '/api/mcp/validate',
      ...requestOf('validate', tokens, ++j),
    });
    await steadyLoad({ base: url, rate, seconds: 3, connections: CONNECTIONS, next });
    out.push(await steadyLoad({ base: url, rate, seconds: STEADY_SECONDS, connections: CONNECTIONS, next }));
  }
  return out;
}

async function main(): Promise<void> {
  const secret = randomBytes(48).toString('base64url');
  const { run, cleanUp, release } = prepareRun();
  const databaseUrl = await startDatabase(run);
  try {
    const apps = await startInstances(run, secret, databaseUrl);
    const ceiling = await startCeiling(run, secret);
    log(`${INSTANCES} instance(s) and the ceiling server are up; seeding ${USERS} users and ${TOKENS} tokens…`);
    const { sessions, tokens } = await seed(apps[0].url);
    const probes = await openProbes(run, databaseUrl, apps);
    const targets = apps.map((a) => a.url);
    const before = await probes.auditCount();
    const servedBefore = await probes.served();
    const introBefore = { served: await probes.introspectServed(), events: await probes.introspectEvents() };
    let intro: { mix: Mix; peerUrl: string; peerMix: Mix } | undefined;
    if (INTROSPECTION) {
      const peer = await startPeer(run);
      log(`the peer is up; issuing ${TOKENS} tokens through its client_credentials grant, revoking one in 20…`);
      const peerMix = await seedPeer(peer.service.base, peer.secret);
      intro = { mix: { ...tokens, basic: await serviceClient(apps[0].url) }, peerUrl: peer.service.base, peerMix };
    }
    const rounds: Round[] = [];
    for (let r = 1; r <= ROUNDS; r++) rounds.push(await measureRound(r, targets, tokens, probes, ceiling, intro));
    const steady = STEADY_SECONDS > 0 ? await measureSteady(targets[0], tokens, rounds) : [];
    await new Promise((r) => setTimeout(r, 500));
    const events = (await probes.auditCount()) - before;
    const answered = (await probes.served()) - servedBefore;
    const introAudit = {
      answered: (await probes.introspectServed()) - introBefore.served,
      events: (await probes.introspectEvents()) - introBefore.events,
    };
    const shown = medianRound(rounds);
    const revocation = INSTANCES >= 2 ? await measureRevocation(apps, sessions[0]) : undefined;
    await probes.db.end();

    const out = resultsOf(rounds, shown, { answered, events }, revocation, probes.embedded, introAudit, steady);
    writeResults(out);
    printResults(out, rounds, shown);
    if (answered !== events || introAudit.answered !== introAudit.events) process.exitCode = 1;
    // Like the audit count, the revocation's guarantees fail the run; its delay is a goal, printed.
    if (revocation && (revocation.nextCallRejected !== revocation.trials || revocation.acceptedAfterRevokeOnSameInstance !== 0)) {
      process.stderr.write(`revocation not effective at once: ${JSON.stringify(revocation)}\n`);
      process.exitCode = 1;
    }
  } finally {
    await cleanUp();
    release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
