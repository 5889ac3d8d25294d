// npm run bench:append [-- --seconds 8 --sizes 1,10,50,200,1000 --writers 1,4]
//
// PostgreSQL alone appending audit batches, no app: the repository's own append path
// (AuditRepository.appendBatch: one `audit_append(...)` statement, its own transaction, a named
// statement per connection), with events shaped like those of POST /api/mcp/validate, at several
// batch sizes and with one or several writers at once (a writer stands for one instance: each
// instance has one batch under way at a time, AuditWriter's MAX_IN_FLIGHT). Every batch moves
// the one chain head, so this is the ceiling of any number of instances on one database.
// Default PostgreSQL durability (synchronous_commit on, fsync on), as deployed.
// Prints events/s for each, and writes bench/results/append-latest.json.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { contentDigest } from '../src/audit/audit-hash.js';
import { AuditRepository, type BatchEvent } from '../src/audit/audit.repository.js';
import { dataSourceOptions } from '../src/database/data-source-options.js';
import { EmbeddedPostgres } from '../src/database/embedded-postgres.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    sizes: { type: 'string', default: '1,10,50,200,1000' },
    writers: { type: 'string', default: '1,4' },
  },
});
const SECONDS = Number(values.seconds);
const SIZES = values.sizes.split(',').map(Number);
const WRITERS = values.writers.split(',').map(Number);

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** An event as POST /api/mcp/validate records one (a valid token, its fingerprint named). */
function validateEvent(): BatchEvent {
  return {
    occurredAt: new Date().toISOString(),
    type: 'token.validate',
    outcome: 'valid',
    actorUserId: randomUUID(),
    tokenId: randomUUID(),
    ip: '10.1.2.3',
    userAgent: 'hospiai-bench',
    requestId: randomUUID(),
    latencyMs: 0.412,
    details: { fingerprint: 'a1b2c3d4e5f60718' },
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hospiai-bench-append-'));
  const embedded = new EmbeddedPostgres({ dir: join(dir, 'db'), log, settings: { shared_buffers: '512MB' } });
  const url = await embedded.start();
  const rows: { writers: number; batchSize: number; batches: number; events: number; eventsPerSecond: number; msPerBatch: number }[] = [];
  try {
    const maxWriters = Math.max(...WRITERS);
    const ds = new DataSource(dataSourceOptions(url, { poolSize: maxWriters, applicationName: 'hospiai-bench' }));
    await ds.initialize();
    await ds.runMigrations({ transaction: 'each' });
    // One repository per writer, as each instance has its own (its own named statements).
    const repositories = Array.from({ length: maxWriters }, () => new AuditRepository(ds));
    for (const writers of WRITERS) {
      for (const size of SIZES) {
        let batches = 0;
        const until = performance.now() + SECONDS * 1000;
        const started = performance.now();
        await Promise.all(
          repositories.slice(0, writers).map(async (repository) => {
            while (performance.now() < until) {
              const events = Array.from({ length: size }, validateEvent);
              await repository.appendBatch(
                events,
                events.map((e) => contentDigest(e)),
                [],
              );
              batches += 1;
            }
          }),
        );
        const elapsed = (performance.now() - started) / 1000;
        const events = batches * size;
        const row = {
          writers,
          batchSize: size,
          batches,
          events,
          eventsPerSecond: Math.round(events / elapsed),
          msPerBatch: +((elapsed * 1000 * writers) / batches).toFixed(2),
        };
        rows.push(row);
        log(`${writers} writer(s), batches of ${size}: ${row.eventsPerSecond} events/s (${row.msPerBatch} ms per batch)`);
      }
    }
    await ds.destroy();
  } finally {
    await embedded.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    [
      `audit_append alone (PostgreSQL 18 embedded, default durability; ${cpus().length} cores shared with this generator; ${SECONDS} s each):`,
      ...rows.map(
        (r) =>
          `  ${r.writers} writer(s), batches of ${String(r.batchSize).padStart(4)}: ${String(r.eventsPerSecond).padStart(7)} events/s   ${String(r.msPerBatch).padStart(7)} ms per batch`,
      ),
    ].join('\n') + '\n',
  );
  mkdirSync(join(process.cwd(), 'bench', 'results'), { recursive: true });
  writeFileSync(
    join(process.cwd(), 'bench', 'results', 'append-latest.json'),
    JSON.stringify({ cores: cpus().length, seconds: SECONDS, rows }, null, 2),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
