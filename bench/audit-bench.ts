// npm run bench:audit [-- --events 10000000 --runs 30]
//
// Fills a fresh database with N audit events (COPY, with a valid hash chain,
// over the last 60 days), then times the common security-team queries through
// the service's own audit services (with a token's usage at a glance, what GET
// /api/tokens/{id}/usage serves), a full export and a full chain check.
// Prints median/p95 ms per query and rows/s, and writes bench/results/audit-latest.json.
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DataSource } from 'typeorm';
import { eventHash, GENESIS_HASH } from '../src/audit/audit-hash.js';
import { AuditExportService } from '../src/audit/audit-export.service.js';
import { AuditListService } from '../src/audit/audit-list.service.js';
import { AuditRollupsRepository } from '../src/audit/audit-rollups.repository.js';
import { AuditStatsService } from '../src/audit/audit-stats.service.js';
import { AuditVerifyService } from '../src/audit/audit-verify.service.js';
import { AuditRepository } from '../src/audit/audit.repository.js';
import type { AuditFilters } from '../src/audit/audit.types.js';
import { LongReadLimiter } from '../src/audit/long-read-limiter.js';
import { dataSourceOptions } from '../src/database/data-source-options.js';
import { EmbeddedPostgres } from '../src/database/embedded-postgres.js';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '10000000' }, runs: { type: 'string', default: '30' }, keep: { type: 'boolean', default: false } },
});
const EVENTS = Number(values.events);
const RUNS = Number(values.runs);
const DAYS = 60;
const TOKENS = 20_000;
const USERS = 2_000;
const IPS = 2_000;
const ATTACKER_IPS = 20;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** A small deterministic generator, so that two runs load the same data. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuidOf(prefix: number, n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `${prefix.toString(16).padStart(8, '0')}-0000-4000-8000-${hex}`;
}

const ipOf = (n: number): string => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const attackerIp = (n: number): string => `203.0.113.${n + 1}`;
const AGENTS = ['python-httpx/0.27.0', 'fastmcp/2.11 (+https://gofastmcp.com)', 'node', 'curl/8.5.0', 'mcp-client/1.0'];

function copyText(v: string | number | null): string {
  if (v === null) return '\\N';
  return String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

async function fill(client: pg.Client, events: number, start: number, end: number): Promise<{ lastId: number; lastHash: string; lastAt: number }> {
  const rand = rng(42);
  const step = (end - start) / events;
  let prev = GENESIS_HASH;
  let id = 0;
  let at = start;
  const copy = client.query(
    copyFrom(
      `COPY "audit_event" ("id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash") FROM STDIN`,
    ),
  );
  const started = Date.now();
  async function* rows(): AsyncGenerator<string> {
    let chunk = '';
    for (let i = 0; i < events; i++) {
      id += 1;
      at += step;
      const occurredAt = new Date(Math.floor(at)).toISOString();
      const r = rand();
      let type = 'token.validate';
      let outcome: string;
      let ip = ipOf(Math.floor(rand() * IPS));
      let tokenN = Math.floor(Math.pow(rand(), 2) * TOKENS); // some tokens much busier than others
      const details: Record<string, unknown> = { fingerprint: (tokenN * 2654435761).toString(16).padStart(16, '0').slice(0, 16) };
      if (r < 0.9) outcome = 'valid';
      else if (r < 0.94) outcome = 'revoked';
      else if (r < 0.97) {
        outcome = 'invalid';
        ip = attackerIp(Math.floor(rand() * ATTACKER_IPS));
        tokenN = -1;
        details.reason = 'signature_or_claims';
      } else if (r < 0.985) outcome = 'expired';
      else if (r < 0.99) {
        outcome = 'insufficient_scope';
        details.requiredScopes = ['write:bookings'];
      } else {
        type = ['auth.login', 'token.create', 'token.revoke', 'user.update'][Math.floor(rand() * 4)];
        outcome = rand() < 0.8 ? 'success' : 'failure';
      }
      const tokenId = tokenN >= 0 && type.startsWith('token') ? uuidOf(0x70000000, tokenN) : null;
      const userId = tokenN >= 0 ? uuidOf(0x50000000, tokenN % USERS) : null;
      const e = {
        id: String(id),
        occurredAt,
        type,
        outcome,
        actorUserId: userId,
        tokenId,
        ip,
        userAgent: AGENTS[id % AGENTS.length],
        requestId: `bench-${id}`,
        latencyMs: Math.round(rand() * 3000) / 1000,
        details,
      };
      prev = eventHash(prev, e);
      chunk +=
        [e.id, e.occurredAt, e.type, e.outcome, e.actorUserId, e.tokenId, e.ip, e.userAgent, e.requestId, e.latencyMs, JSON.stringify(e.details), prev]
          .map(copyText)
          .join('\t') + '\n';
      if (chunk.length > 1 << 20) {
        yield chunk;
        chunk = '';
      }
      if (id % 1_000_000 === 0) {
        const s = (Date.now() - started) / 1000;
        log(`  loaded ${(id / 1e6).toFixed(0)} M events (${Math.round(id / s).toLocaleString('en')} events/s)`);
      }
    }
    if (chunk) yield chunk;
  }
  await pipeline(rows, copy);
  return { lastId: id, lastHash: prev, lastAt: Math.floor(at) };
}

function stats(samples: number[]): { median: number; p95: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { median: q(0.5), p95: q(0.95), min: s[0], max: s[s.length - 1] };
}

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, r];
}

async function main(): Promise<void> {
  const startedAll = Date.now();
  let embedded: EmbeddedPostgres | undefined;
  let url = process.env.DATABASE_URL;
  let dropDb: (() => Promise<void>) | undefined;
  if (url) {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const name = `hospiai_bench_${Date.now().toString(36)}`;
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
    const u = new URL(url);
    const adminUrl = url;
    u.pathname = `/${name}`;
    url = u.toString();
    dropDb = async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    };
    log(`database: fresh database ${name} on DATABASE_URL`);
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'hospiai-bench-audit-'));
    embedded = new EmbeddedPostgres({
      dir,
      log,
      settings: { shared_buffers: '2GB', maintenance_work_mem: '1GB', work_mem: '64MB', max_wal_size: '8GB', synchronous_commit: 'off', checkpoint_timeout: '30min' },
    });
    url = await embedded.start();
    log(`database: embedded PostgreSQL in ${dir}`);
  }

  const ds = new DataSource(dataSourceOptions(url, { poolSize: 4, applicationName: 'hospiai-bench' }));
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  const repository = new AuditRepository(ds);
  const limiter = new LongReadLimiter();
  const listing = new AuditListService(repository);
  const statistics = new AuditStatsService(new AuditRollupsRepository(ds));
  const exporter = new AuditExportService(repository, limiter);
  const verifier = new AuditVerifyService(repository, limiter);
  const client = new pg.Client({ connectionString: url });
  await client.connect();

  const now = Date.now();
  const start = now - DAYS * 86_400_000;
  await client.query(`SELECT "audit_ensure_partition"(m) FROM generate_series($1::timestamptz, $2::timestamptz + interval '1 month', interval '1 month') m`, [
    new Date(start).toISOString(),
    new Date(now).toISOString(),
  ]);

  // Bulk load: indexes are dropped and rebuilt afterwards, as for any bulk load.
  const indexes = (await client.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_event' AND indexname <> 'PK_audit_event'`,
  )).rows;
  for (const i of indexes) await client.query(`DROP INDEX "${i.indexname}"`);
  log(`loading ${EVENTS.toLocaleString('en')} events over ${DAYS} days (COPY)…`);
  const [loadMs, last] = await time(() => fill(client, EVENTS, start, now));
  log(`loaded in ${(loadMs / 1000).toFixed(1)} s; rebuilding ${indexes.length} indexes…`);
  await client.query(`SET maintenance_work_mem = '1GB'`);
  const [indexMs] = await time(async () => {
    // pg_indexes shows a partitioned index as CREATE INDEX … ON ONLY parent: recreate it on every partition.
    for (const i of indexes) await client.query(i.indexdef.replace(' ON ONLY ', ' ON '));
  });
  await client.query(`UPDATE "audit_chain_head" SET "last_id" = $1, "last_hash" = $2, "last_occurred_at" = $3`, [
    last.lastId,
    last.lastHash,
    new Date(last.lastAt).toISOString(),
  ]);
  // The rollups are rebuilt from every loaded event below: none is left for the catch-up to add.
  await client.query(`UPDATE "audit_rollup_state" SET "rolled_up_to" = $1, "rolled_up_at" = $2`, [last.lastId, new Date(last.lastAt).toISOString()]);
  const [rollupMs] = await time(() => client.query(`SELECT "audit_rollup_rebuild"('-infinity', 'infinity')`));
  // VACUUM as well as ANALYZE: a running database's autovacuum keeps the visibility map and the
  // statistics current as events arrive; after a bulk load it would instead start on millions of
  // rows in the middle of the timed queries (and index-only scans would still visit the table).
  const [analyzeMs] = await time(() => client.query(`VACUUM (ANALYZE)`));
  log(`indexes ${(indexMs / 1000).toFixed(1)} s, rollups ${(rollupMs / 1000).toFixed(1)} s, vacuum and analyze ${(analyzeMs / 1000).toFixed(1)} s`);

  const rand = rng(7);
  const busyToken = (): string => uuidOf(0x70000000, Math.floor(Math.pow(rand(), 2) * 200));
  const anyToken = (): string => uuidOf(0x70000000, Math.floor(rand() * TOKENS));
  const queries: { name: string; run: () => Promise<unknown> }[] = [
    {
      name: "one token's last 24 h (first page)",
      run: () => listing.list({ tokenId: busyToken(), from: new Date(now - 86_400_000) }, 100),
    },
    {
      name: 'failures by IP over a week (first page)',
      run: () => listing.list({ ip: attackerIp(Math.floor(rand() * ATTACKER_IPS)), outcome: 'invalid', from: new Date(now - 7 * 86_400_000) }, 100),
    },
    {
      name: 'top failing IPs and tokens + counts, 7 days by hour',
      run: () => statistics.stats(new Date(now - 7 * 86_400_000), new Date(now), 'hour', 'token.validate'),
    },
    {
      name: 'stats over 30 days by day',
      run: () => statistics.stats(new Date(now - 30 * 86_400_000), new Date(now), 'day'),
    },
    // GET /api/tokens/{id}/usage: the route reads the token's row (by primary key), then this.
    { name: "a busy token's usage, 30 days (tokens/{id}/usage)", run: () => statistics.tokenUsage(busyToken(), 30, new Date(now)) },
    { name: "any token's usage, 30 days (tokens/{id}/usage)", run: () => statistics.tokenUsage(anyToken(), 30, new Date(now)) },
    { name: 'first page of the unfiltered listing', run: () => listing.list({}, 100) },
    {
      name: 'unfiltered listing, page 50 (cursor)',
      run: async () => {
        let cursor: string | undefined;
        for (let i = 0; i < 50; i++) cursor = (await listing.list({}, 100, cursor)).nextCursor ?? undefined;
        return cursor;
      },
    },
  ];
  const results: Record<string, unknown>[] = [];
  for (const q of queries) {
    for (let i = 0; i < 3; i++) await q.run(); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) samples.push((await time(q.run))[0]);
    const s = stats(samples);
    results.push({ query: q.name, runs: RUNS, medianMs: +s.median.toFixed(2), p95Ms: +s.p95.toFixed(2), maxMs: +s.max.toFixed(2) });
    log(`${q.name}: median ${s.median.toFixed(2)} ms, p95 ${s.p95.toFixed(2)} ms`);
  }

  const exportOne = async (format: 'ndjson' | 'csv', filters: AuditFilters = {}) => {
    let bytes = 0;
    let rows = 0;
    let peakRss = 0;
    const [ms] = await time(async () => {
      const stream = await exporter.export(filters, format, (n) => {
        rows = n;
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        if (n % 1_000_000 === 0) log(`  export ${format}: ${(n / 1e6).toFixed(0)} M rows`);
      });
      await pipeline(
        stream,
        new Writable({
          write(chunk: Buffer, _e, done) {
            bytes += chunk.length;
            done();
          },
        }),
      );
    });
    return { format, rows, bytes, seconds: +(ms / 1000).toFixed(2), rowsPerSecond: Math.round(rows / (ms / 1000)), peakRssMb: Math.round(peakRss / 2 ** 20) };
  };
  log('full export (NDJSON)…');
  const exportNd = await exportOne('ndjson');
  log('full export (CSV)…');
  const exportCsv = await exportOne('csv');
  log('full chain verification…');
  const [verifyMs, verify] = await time(() => verifier.verify({}, (n) => n % 2_000_000 === 0 && log(`  verified ${(n / 1e6).toFixed(0)} M`)));

  const size = (await client.query<{ s: string }>(`SELECT pg_size_pretty(pg_database_size(current_database())) AS s`)).rows[0].s;
  const tokenRollup = (
    await client.query<{ rows: string; size: string }>(
      `SELECT count(*)::text AS rows, pg_size_pretty(pg_total_relation_size('"audit_token_rollup_daily"')) AS size FROM "audit_token_rollup_daily"`,
    )
  ).rows[0];
  const out = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
    database: embedded ? 'embedded PostgreSQL 18 (Unix socket)' : 'DATABASE_URL',
    events: EVENTS,
    databaseSize: size,
    load: { seconds: +(loadMs / 1000).toFixed(1), eventsPerSecond: Math.round(EVENTS / (loadMs / 1000)), indexSeconds: +(indexMs / 1000).toFixed(1), rollupSeconds: +(rollupMs / 1000).toFixed(1) },
    tokenRollup: { rows: Number(tokenRollup.rows), size: tokenRollup.size },
    queries: results,
    export: [exportNd, exportCsv],
    verify: { ...verify, seconds: +(verifyMs / 1000).toFixed(1), eventsPerSecond: Math.round(verify.checked / (verifyMs / 1000)) },
    totalSeconds: Math.round((Date.now() - startedAll) / 1000),
  };
  mkdirSync(join(process.cwd(), 'bench', 'results'), { recursive: true });
  writeFileSync(join(process.cwd(), 'bench', 'results', 'audit-latest.json'), JSON.stringify(out, null, 2));

  const pad = (s: string, n: number): string => s.padEnd(n);
  const lines = [
    `audit benchmark: ${EVENTS.toLocaleString('en')} events (${size}), ${out.machine.cpus} cores, ${out.machine.memoryGb} GiB, ${out.database}`,
    `load (COPY): ${out.load.eventsPerSecond.toLocaleString('en')} events/s; index rebuild ${out.load.indexSeconds} s; rollups ${out.load.rollupSeconds} s`,
    `per-token daily rollup: ${out.tokenRollup.rows.toLocaleString('en')} rows (${out.tokenRollup.size})`,
    '',
    `${pad('query', 56)} ${pad('median ms', 10)} ${pad('p95 ms', 10)} max ms`,
    ...results.map((r) => `${pad(String(r.query), 56)} ${pad(String(r.medianMs), 10)} ${pad(String(r.p95Ms), 10)} ${r.maxMs}`),
    '',
    ...out.export.map((e) => `export ${pad(e.format, 7)} ${e.rows.toLocaleString('en')} rows in ${e.seconds} s = ${e.rowsPerSecond.toLocaleString('en')} rows/s (${Math.round(e.bytes / 2 ** 20)} MiB, peak RSS ${e.peakRssMb} MiB)`),
    `verify  ${out.verify.checked.toLocaleString('en')} events in ${out.verify.seconds} s = ${out.verify.eventsPerSecond.toLocaleString('en')} events/s, ok=${out.verify.ok}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');

  await client.end();
  await ds.destroy();
  if (embedded && !values.keep) await embedded.destroy();
  else if (embedded) await embedded.stop();
  await dropDb?.();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:audit failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
