// The audit command line for security teams, against the same database as the app:
//
//   npm run audit -- verify [--from ISO] [--to ISO] [--checkpoints FILE] [--public-key KEY]…
//   npm run audit -- export [--format ndjson|csv] [--type T] [--outcome O] [--user-id U]
//                           [--token-id T] [--ip IP] [--from ISO] [--to ISO] > file
//
// Progress goes to stderr; `verify` exits 1 when the chain is broken, 2 on bad usage. `verify`
// checks the chain against the signed checkpoints of AUDIT_CHECKPOINT_FILE with the public half of
// AUDIT_SIGNING_KEY, or against a checkpoint file kept elsewhere (--checkpoints) with public keys
// given here (--public-key: a PEM file, the JSON of GET /api/audit/checkpoints/public-key, or base64
// SPKI): then nothing but the events comes from the database.
import 'reflect-metadata';
import { isIP } from 'node:net';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { storableTime } from '../common/timestamps.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { dataSourceOptions } from '../database/data-source-options.js';
import { resolveDatabase } from '../database/database-url.js';
import { checkCheckpointFile, parsePublicKey } from './audit-checkpoint.js';
import { readCheckpointFile } from './audit-checkpoint.service.js';
import { AuditExportService } from './audit-export.service.js';
import { AuditVerifyService } from './audit-verify.service.js';
import { AuditRepository } from './audit.repository.js';
import { AUDIT_OUTCOMES, AUDIT_TYPES, type AuditFilters, type ExportFormat } from './audit.types.js';
import { LongReadLimiter } from './long-read-limiter.js';
import { UUID_PATTERN } from '../common/uuid.js';

const USAGE = `usage:
  npm run audit -- verify [--from ISO-8601] [--to ISO-8601] [--checkpoints FILE] [--public-key KEY]...
  npm run audit -- export [--format ndjson|csv] [--type TYPE] [--outcome OUTCOME] [--user-id UUID]
                          [--token-id UUID] [--ip IP] [--from ISO-8601] [--to ISO-8601] > file`;

class UsageError extends Error {}

function date(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = storableTime(value);
  if (!d) throw new UsageError(`--${name} must be an ISO-8601 date, from year 0001 to 9999 (got "${value}")`);
  return d;
}

function oneOf(name: string, value: string | undefined, allowed: readonly string[]): string | undefined {
  if (value !== undefined && !allowed.includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')} (got "${value}")`);
  return value;
}

/** --public-key: a file (PEM, or the public-key route's JSON) or the key itself. */
function publicKeyArg(value: string): KeyObject {
  try {
    return parsePublicKey(existsSync(value) ? readFileSync(value, 'utf8') : value);
  } catch (err) {
    throw new UsageError(`--public-key must be an Ed25519 public key, or a file holding one (${(err as Error).message})`);
  }
}

function progress(line: string): void {
  process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string' },
      type: { type: 'string' },
      outcome: { type: 'string' },
      'user-id': { type: 'string' },
      'token-id': { type: 'string' },
      ip: { type: 'string' },
      checkpoints: { type: 'string' },
      'public-key': { type: 'string', multiple: true },
    },
    strict: true,
  });
  const from = date('from', values.from);
  const to = date('to', values.to);
  if (from && to && from > to) throw new UsageError('--from must not be after --to');
  if (command !== 'verify' && command !== 'export') throw new UsageError(command ? `unknown command "${command}"` : 'a command is required');
  const givenKeys = (values['public-key'] ?? []).map(publicKeyArg);
  if (values.checkpoints !== undefined && !existsSync(values.checkpoints)) throw new UsageError(`--checkpoints: no such file "${values.checkpoints}"`);

  const config = loadConfig(process.env);
  const db = await resolveDatabase(config, (m) => process.stderr.write(`${m}\n`), { stopAdopted: false });
  const ds = new DataSource(dataSourceOptions(db.url, { poolSize: 2, applicationName: 'hospiai-audit-cli' }));
  await ds.initialize();
  const repository = new AuditRepository(ds);
  const limiter = new LongReadLimiter();
  const started = Date.now();
  try {
    if (command === 'verify') {
      const keys = givenKeys.length > 0 ? givenKeys : [createPublicKey(config.auditCheckpoints.signingKey)];
      const checkpoints = checkCheckpointFile(await readCheckpointFile(values.checkpoints ?? config.auditCheckpoints.file), keys);
      const result = await new AuditVerifyService(repository, limiter).verify(
        { from, to },
        (n) => progress(`verified ${n.toLocaleString('en')} events…`),
        undefined,
        checkpoints,
      );
      if (process.stderr.isTTY) process.stderr.write('\n');
      process.stdout.write(JSON.stringify(result) + '\n');
      process.stderr.write(
        result.ok
          ? `chain intact: ${result.checked} events checked in ${Date.now() - started} ms, through ${result.checkpoints} signed checkpoints (up to event ${result.checkpointedToId ?? '-'})\n`
          : result.brokenCheckpoint
            ? `CHECKPOINT BROKEN: checkpoint ${result.brokenCheckpoint.sequence ?? '?'} (line ${result.brokenCheckpoint.line}, event ${result.brokenCheckpoint.lastId ?? '?'}): ${result.brokenCheckpoint.problem}` +
              `${result.firstBrokenId ? `; first event concerned: ${result.firstBrokenId}` : ''}\n`
            : `CHAIN BROKEN at event ${result.firstBrokenId} (${result.checked} events checked before it)\n`,
      );
      return result.ok ? 0 : 1;
    }
    const format = (oneOf('format', values.format, ['ndjson', 'csv']) ?? 'ndjson') as ExportFormat;
    if (values['user-id'] && !UUID_PATTERN.test(values['user-id'])) throw new UsageError('--user-id must be a UUID');
    if (values['token-id'] && !UUID_PATTERN.test(values['token-id'])) throw new UsageError('--token-id must be a UUID');
    if (values.ip && !isIP(values.ip)) throw new UsageError('--ip must be an IP address');
    const filters: AuditFilters = {
      type: oneOf('type', values.type, AUDIT_TYPES),
      outcome: oneOf('outcome', values.outcome, AUDIT_OUTCOMES),
      userId: values['user-id'],
      tokenId: values['token-id'],
      ip: values.ip,
      from,
      to,
    };
    let rows = 0;
    const stream = await new AuditExportService(repository, limiter).export(filters, format, (n) => {
      rows = n;
      progress(`exported ${n.toLocaleString('en')} events…`);
    });
    await pipeline(stream, process.stdout);
    if (process.stderr.isTTY) process.stderr.write('\n');
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(`exported ${rows} events in ${seconds.toFixed(1)} s (${Math.round(rows / Math.max(seconds, 0.001))} events/s)\n`);
    return 0;
  } finally {
    await ds.destroy().catch(() => undefined);
    await db.embedded?.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`${err instanceof ConfigError ? err.message : `audit: ${err instanceof Error ? err.message : String(err)}`}\n`);
    process.exit(1);
  },
);
