// npm run bench:mcp [-- --trials 100 --seconds 10 --concurrency 8]
//
// Measures, against the real service (embedded PostgreSQL unless DATABASE_URL
// is set) and the FastMCP example (examples/fastmcp-ts, a child process),
// driven by the MCP SDK client over Streamable HTTP:
//
// 1. the revocation delay with the example's cache on (it follows the
//    revocation stream): a token is used (and cached), revoked through
//    DELETE /api/tokens/:id, then called again back to back; the delay is from
//    the DELETE answer to the first refused call. `trials` times: median, p95, max.
// 2. tool calls per second through the example, with the cache on and off
//    (`concurrency` clients calling get_patient for `seconds` each time).
//
// Prints the figures and writes bench/results/mcp-latest.json.
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { EmbeddedPostgres } from '../src/database/embedded-postgres.js';
import { RevocationStreamService } from '../src/mcp-clients/revocation-stream.service.js';
import { createToken, freePort, login, REPO_ROOT, startService } from '../test/support/harness.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
  },
});
const TRIALS = Number(values.trials);
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const ROOT = REPO_ROOT;
const ADMIN = { email: 'bench.admin@chu-exemple.fr', password: 'a long bench admin passphrase' };

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** The FastMCP example, started and waited for; its URL is that of its MCP endpoint. */
async function startExample(env: Record<string, string>): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const example = await startService({
    name: 'the example',
    script: join(ROOT, 'examples/fastmcp-ts/dist/server.js'),
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    port,
    onStderr: (chunk) => process.stderr.write(chunk),
    readyLine: 'listening on',
  });
  return { url: `${example.base}/mcp`, stop: () => example.stop() };
}

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'hospiai-bench', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return client;
}

/** A tool call's outcome: answered, its token refused by the MCP server (HTTP 401), or failed otherwise. */
type CallOutcome = 'ok' | 'refused' | 'failed';

async function call(client: Client): Promise<CallOutcome> {
  try {
    const r = await client.callTool({ name: 'get_patient', arguments: { patientId: 'P-1001' } }, undefined, { timeout: 10_000 });
    return r.isError ? 'failed' : 'ok';
  } catch (error) {
    if (error instanceof StreamableHTTPError && error.code === 401) return 'refused';
    if (process.env.BENCH_DEBUG) log(`call failed: ${error instanceof Error ? error.message : String(error)}`);
    return 'failed';
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hospiai-bench-mcp-'));
  const pgDir = process.env.DATABASE_URL ? undefined : mkdtempSync(join(tmpdir(), 'hospiai-bench-pg-'));
  let embedded: EmbeddedPostgres | undefined;
  let databaseUrl = process.env.DATABASE_URL;
  if (pgDir) {
    embedded = new EmbeddedPostgres({ dir: pgDir });
    databaseUrl = await embedded.start();
  }
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    JWT_SECRET: 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dir,
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
  });
  const app = await createApp({ config, databaseUrl: databaseUrl!, logDestination: { write: () => undefined } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const api = async (method: string, path: string, token: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const session = (await login(base, ADMIN)).accessToken;
  const newToken = () => createToken(base, session, { name: 'bench', scopes: ['read:data'], durationDays: 1 });
  const mcpClient = (await api('POST', '/api/mcp/clients', session, { name: 'bench' })) as { clientId: string; clientSecret: string };

  const common = { HOSPIAI_VALIDATION_URL: `${base}/api/mcp/validate` };
  const cached = await startExample({ ...common, HOSPIAI_CLIENT_ID: mcpClient.clientId, HOSPIAI_CLIENT_SECRET: mcpClient.clientSecret });
  const uncached = await startExample({ ...common, HOSPIAI_CACHE: 'off' });
  const results: Record<string, unknown> = { machine: { cpus: cpus().length, node: process.version }, trials: TRIALS, seconds: SECONDS, concurrency: CONCURRENCY };
  try {
    // Wait until the cached example follows the stream.
    for (let i = 0; i < 400 && app.get(RevocationStreamService).openStreams === 0; i++) await new Promise((r) => setTimeout(r, 25));
    if (app.get(RevocationStreamService).openStreams === 0) throw new Error('the cached example does not follow the revocation stream');

    // 1. Revocation delay, cache on.
    log(`revocation delay: ${TRIALS} trials`);
    const delays: number[] = [];
    const deleteMs: number[] = [];
    const callsBeforeRefusal: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const tok = await newToken();
      const client = await connect(cached.url, tok.token);
      for (let k = 0; k < 2; k++) {
        const before = await call(client);
        if (before !== 'ok') throw new Error(`a call with a fresh token was not answered: ${before}`);
      }
      const sent = performance.now();
      await api('DELETE', `/api/tokens/${tok.id}`, session);
      const answered = performance.now();
      let n = 0;
      for (;;) {
        n += 1;
        // Only the token's refusal ends the wait: a timeout or a failed call says nothing of revocation.
        const outcome = await call(client);
        if (outcome === 'refused') break;
        if (outcome === 'failed') throw new Error('a call failed while waiting for the revocation (BENCH_DEBUG=1 shows why)');
        if (performance.now() - answered > 30_000) throw new Error('still accepted 30 s after revocation');
      }
      delays.push(performance.now() - answered);
      deleteMs.push(answered - sent);
      callsBeforeRefusal.push(n - 1);
      await client.close().catch(() => undefined);
    }
    const sorted = [...delays].sort((a, b) => a - b);
    results.revocation = {
      fromDeleteAnswerMs: { median: round(quantile(sorted, 0.5)), p95: round(quantile(sorted, 0.95)), max: round(sorted[sorted.length - 1]), min: round(sorted[0]) },
      deleteLatencyMs: { median: round(quantile([...deleteMs].sort((a, b) => a - b), 0.5)) },
      callsAcceptedAfterDelete: { max: Math.max(...callsBeforeRefusal), total: callsBeforeRefusal.reduce((a, b) => a + b, 0) },
    };

    // 2. Throughput, cache on and off.
    const throughput = async (url: string, label: string): Promise<number> => {
      const tok = await newToken();
      const clients = await Promise.all(Array.from({ length: CONCURRENCY }, () => connect(url, tok.token)));
      for (const c of clients) await call(c); // warm-up
      log(`calls/s ${label}: ${CONCURRENCY} clients for ${SECONDS} s`);
      let ok = 0;
      let failed = 0;
      const end = performance.now() + SECONDS * 1000;
      const started = performance.now();
      await Promise.all(
        clients.map(async (c) => {
          while (performance.now() < end) {
            if ((await call(c)) === 'ok') ok += 1;
            else failed += 1;
          }
        }),
      );
      const elapsed = (performance.now() - started) / 1000;
      log(`  ${ok} calls in ${elapsed.toFixed(1)} s`);
      for (const c of clients) await c.close().catch(() => undefined);
      if (failed > 0) log(`  ${failed} calls failed`);
      return ok / elapsed;
    };
    const withCache = await throughput(cached.url, 'with cache');
    const withoutCache = await throughput(uncached.url, 'without cache');
    results.callsPerSecond = { withCache: round(withCache), withoutCache: round(withoutCache) };
  } finally {
    log('stopping');
    await cached.stop();
    await uncached.stop();
    log('examples stopped');
    await app.close();
    await embedded?.stop();
    log('service stopped');
    rmSync(dir, { recursive: true, force: true });
    if (pgDir) rmSync(pgDir, { recursive: true, force: true });
  }

  const r = results as {
    revocation: { fromDeleteAnswerMs: Record<'median' | 'p95' | 'max', number>; callsAcceptedAfterDelete: { total: number } };
    callsPerSecond: { withCache: number; withoutCache: number };
  };
  const lines = [
    `FastMCP example (examples/fastmcp-ts), MCP SDK client over Streamable HTTP, ${cpus().length} CPUs, Node ${process.version}`,
    `revocation delay, cache on (${TRIALS} trials, from the DELETE answer to the first refused call): ` +
      `median ${r.revocation.fromDeleteAnswerMs.median} ms, p95 ${r.revocation.fromDeleteAnswerMs.p95} ms, max ${r.revocation.fromDeleteAnswerMs.max} ms ` +
      `(calls still accepted after the DELETE answer: ${r.revocation.callsAcceptedAfterDelete.total} in ${TRIALS} trials)`,
    `calls/s through the example (${CONCURRENCY} clients, ${SECONDS} s): with cache ${r.callsPerSecond.withCache}, without cache ${r.callsPerSecond.withoutCache}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/mcp-latest.json'), `${JSON.stringify(results, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
