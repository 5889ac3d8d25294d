// Helpers shared by the audit e2e tests: the stored events as ground truth,
// a superuser client that bypasses the append-only triggers (to tamper with
// rows behind the app's back), the audit command line, and an RFC 4180 reader.
import { spawn } from 'node:child_process';
import pg from 'pg';
import type { AuditEvent } from '../../src/audit/audit.types.js';
import { REPO_ROOT } from './harness.js';
import type { TestApp } from './test-app.js';

export { REPO_ROOT };

/** A stored `audit_event` row (all its columns) shaped as the API shows the event. */
export function toAuditEvent(r: Record<string, any>): AuditEvent {
  return {
    id: String(r.id),
    occurredAt: (r.occurred_at as Date).toISOString(),
    type: r.type,
    outcome: r.outcome,
    actorUserId: r.actor_user_id,
    tokenId: r.token_id,
    ip: r.ip,
    userAgent: r.user_agent,
    requestId: r.request_id,
    latencyMs: r.latency_ms,
    details: r.details,
    hash: String(r.hash).trim(),
  };
}

/** Every stored event, in id order, shaped as the API shows it. */
export async function storedEvents(t: TestApp): Promise<AuditEvent[]> {
  const { rows } = await t.db.query(
    `SELECT "id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash"
       FROM "audit_event" ORDER BY "id"`,
  );
  return rows.map(toAuditEvent);
}

/** The API's listing order: newest first, ties broken by id. */
export function newestFirst(events: readonly AuditEvent[]): AuditEvent[] {
  return [...events].sort((a, b) => (a.occurredAt === b.occurredAt ? Number(BigInt(b.id) - BigInt(a.id)) : a.occurredAt < b.occurredAt ? 1 : -1));
}

/**
 * Runs `fn` on a dedicated connection with triggers disabled
 * (`session_replication_role = replica`, which needs a superuser): what an
 * intruder with database access could do.
 */
export async function behindTheAppsBack<T>(t: TestApp, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: t.databaseUrl });
  await c.connect();
  try {
    await c.query(`SET session_replication_role = replica`);
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/src/audit/cli.js <args>` against the test database. */
export function runAuditCli(t: TestApp, args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/src/audit/cli.js', ...args], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: t.databaseUrl,
        // The app's folder: the checkpoint file and signing key the command line reads by default.
        DATA_DIR: t.config.dataDir,
        JWT_SECRET: 'cli-test-secret-0123456789-abcdefghijklm',
        NODE_ENV: 'test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A strict RFC 4180 reader: records end with CRLF, fields are separated by
 * commas, a quoted field may hold commas, CR, LF and doubled quotes.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    let field = '';
    if (text[i] === '"') {
      i += 1;
      for (;;) {
        if (i >= n) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        field += text[i];
        i += 1;
      }
    } else {
      while (i < n && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') throw new Error(`bare quote in an unquoted field at ${i}`);
        field += text[i];
        i += 1;
      }
    }
    record.push(field);
    if (text[i] === ',') {
      i += 1;
      if (i === n) throw new Error('record ends with a comma');
    } else if (text.startsWith('\r\n', i)) {
      records.push(record);
      record = [];
      i += 2;
    } else if (i < n) {
      throw new Error(`expected a comma or CRLF at ${i}, got ${JSON.stringify(text.slice(i, i + 10))}`);
    } else {
      throw new Error('the last record does not end with CRLF');
    }
  }
  return records;
}
