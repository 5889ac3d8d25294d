import { Type } from 'class-transformer';
import { IsIn, IsInt, IsIP, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, ValidateBy } from 'class-validator';
import { storableTime } from '../common/timestamps.js';
import { AUDIT_OUTCOMES, AUDIT_TYPES, type AuditOutcome, type AuditStats, type AuditType } from './audit.types.js';

/**
 * A calendar date (UTC midnight) or a date-time with Z or an offset, as ISO-8601 writes them.
 * Week and ordinal dates, and times without an offset (whose meaning depends on the server), are refused;
 * so are dates that do not exist and instants outside years 0001–9999 (PostgreSQL has no year 0).
 */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const IsTimestamp = (): PropertyDecorator =>
  ValidateBy({
    name: 'isTimestamp',
    validator: {
      validate: (v: unknown) => typeof v === 'string' && TIMESTAMP.test(v) && storableTime(v) !== undefined,
      defaultMessage: (args) =>
        `${args?.property} must be an ISO-8601 date (2026-11-26) or date-time with Z or an offset (2026-11-26T08:00:00Z), from year 0001 to 9999`,
    },
  });

export class AuditFilterQuery {
  /** @example "token.validate" */
  @IsOptional()
  @IsIn(AUDIT_TYPES)
  type?: AuditType;

  /** @example "revoked" */
  @IsOptional()
  @IsIn(AUDIT_OUTCOMES)
  outcome?: AuditOutcome;

  /** Events whose actor is this user. */
  @IsOptional()
  @IsUUID()
  userId?: string;

  /** @example "0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b" */
  @IsOptional()
  @IsUUID()
  tokenId?: string;

  /** @example "10.0.4.12" */
  @IsOptional()
  @IsIP()
  ip?: string;

  /**
   * Inclusive lower bound, ISO-8601.
   * @example "2026-11-25T00:00:00Z"
   */
  @IsOptional()
  @IsTimestamp()
  from?: string;

  /**
   * Exclusive upper bound, ISO-8601.
   * @example "2026-11-26T00:00:00Z"
   */
  @IsOptional()
  @IsTimestamp()
  to?: string;
}

export class AuditListQuery extends AuditFilterQuery {
  /** Page size, 1–1000 (default 100). */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  /** `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;

  /**
   * `json` (default): this page as `{items, nextCursor}`; `fhir`: a FHIR R4 `Bundle` of type `searchset`
   * holding one `AuditEvent` per event (IHE BALP, docs/siem.md), its `next` link carrying the cursor.
   * @example "fhir"
   */
  @IsOptional()
  @IsIn(['json', 'fhir'])
  format?: 'json' | 'fhir';
}

export class AuditExportQuery extends AuditFilterQuery {
  /** `ndjson` (default), `csv`, or `fhir-ndjson` (one FHIR R4 AuditEvent a line). @example "csv" */
  @IsOptional()
  @IsIn(['ndjson', 'csv', 'fhir-ndjson'])
  format?: 'ndjson' | 'csv' | 'fhir-ndjson';
}

export class AuditStatsQuery {
  /**
   * Start of the period; default: 24 hours before `to`. The counts are kept by whole UTC hours: `from` is rounded down
   * to its hour (10:20 counts from 10:00). The top failing IPs and tokens are kept by whole UTC days: from the start of
   * the day that holds `from`.
   * @example "2026-11-25T00:00:00Z"
   */
  @IsOptional()
  @IsTimestamp()
  from?: string;

  /**
   * End of the period, exclusive; default: now. The counts are kept by whole UTC hours: the hour that holds `to` is
   * counted whole (10:20 counts up to 11:00) unless `to` falls exactly on the hour (10:00 counts up to 10:00). The top
   * failing IPs and tokens are kept by whole UTC days: the day that holds `to` is counted whole unless `to` falls exactly
   * on midnight.
   * @example "2026-11-26T00:00:00Z"
   */
  @IsOptional()
  @IsTimestamp()
  to?: string;

  /**
   * Bucket size (default: hour). A day bucket is a UTC day, the sum of its hours within the period (see `from` and `to`).
   * @example "hour"
   */
  @IsOptional()
  @IsIn(['hour', 'day'])
  interval?: 'hour' | 'day';

  /** Only events of this type (default: all). */
  @IsOptional()
  @IsIn(AUDIT_TYPES)
  type?: AuditType;
}

export class AuditVerifyQuery {
  /** Check only events at or after this time. */
  @IsOptional()
  @IsTimestamp()
  from?: string;

  /** Check only events before this time. */
  @IsOptional()
  @IsTimestamp()
  to?: string;
}

export class AuditEventView {
  /** @example "4821" */
  id: string;
  /** @example "2026-11-26T09:12:44.120Z" */
  occurredAt: string;
  /** @example "token.validate" */
  type: string;
  /** @example "valid" */
  outcome: string;
  /** @example "6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6" */
  actorUserId: string | null;
  /** @example "0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b" */
  tokenId: string | null;
  /** @example "10.0.4.12" */
  ip: string | null;
  /** @example "python-httpx/0.27.0" */
  userAgent: string | null;
  /** @example "8a2c789a-3ea5-480f-a1b8-0ce0788d5488" */
  requestId: string | null;
  /** @example 1.84 */
  latencyMs: number | null;
  /** @example {"fingerprint": "3f9a0c…"} */
  details: Record<string, unknown>;
  /**
   * SHA-256 over the previous event's hash and this event's content.
   * @example "9b1c…"
   */
  hash: string;
}

export class AuditPageView {
  items: AuditEventView[];
  /** @example "MjAyNi0xMS0yNlQwOToxMjo0NC4xMjBafDQ4MjE" */
  nextCursor: string | null;
}

export class AuditBrokenCheckpointView {
  /**
   * Its line in the checkpoint file.
   * @example 7
   */
  line: number;
  /** @example 7 */
  sequence: number | null;
  /**
   * The event whose id and hash it signed.
   * @example "4700"
   */
  lastId: string | null;
  /**
   * `malformed` or `signature` (the line is not a checkpoint signed by the service's key), `order` (out of
   * sequence, or not linked to its predecessor), `missing_event` (the chain no longer reaches its event),
   * `hash_mismatch` or `count_mismatch` (the chain passes there with another hash, or another count).
   * @example "hash_mismatch"
   */
  problem: 'malformed' | 'signature' | 'order' | 'missing_event' | 'hash_mismatch' | 'count_mismatch';
}

export class AuditVerifyView {
  /** @example true */
  ok: boolean;
  /** @example 4821 */
  checked: number;
  /**
   * The first event concerned; for a checkpoint that no longer matches, the first event after the last
   * checkpoint that did (the change lies between it and that checkpoint's `lastId`).
   * @example null
   */
  firstBrokenId: string | null;
  /** @example "1" */
  fromId: string | null;
  /** @example "4821" */
  toId: string | null;
  /**
   * Signed checkpoints (from the checkpoint file) the chain was found to pass through.
   * @example 16
   */
  checkpoints: number;
  /**
   * The last event vouched for by a signed checkpoint; later events rest on the hash chain alone.
   * @example "4800"
   */
  checkpointedToId: string | null;
  /** The checkpoint that failed, or null. */
  brokenCheckpoint: AuditBrokenCheckpointView | null;
}

export class AuditCheckpointListQuery {
  /** Page size, 1–1000 (default 100). */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  /** `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @Matches(/^[1-9]\d{0,14}$/, { message: 'cursor is not valid' })
  cursor?: string;
}

export class AuditCheckpointView {
  /**
   * 1, 2, 3… in signing order, across every instance.
   * @example 16
   */
  sequence: number;
  /** @example "4800" */
  lastId: string;
  /** @example "9b1c0e7d4a2f6b8c3d5e7f9a1b2c4d6e8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e" */
  lastHash: string;
  /**
   * Events appended up to `lastId`, those pruned by retention included.
   * @example "4800"
   */
  count: string;
  /** @example "2026-11-26T09:15:00.000Z" */
  signedAt: string;
  /**
   * The previous checkpoint's `hash` (64 zeros for the first).
   * @example "4f2a7c9e1b3d5f7a9c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a"
   */
  previousHash: string;
  /** @example "3f9a0c1d2e4b5a69" */
  keyId: string;
  /**
   * Ed25519 signature, base64.
   * @example "t1Jq…"
   */
  signature: string;
  /** @example "c0ffee4a2f6b8c3d5e7f9a1b2c4d6e8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b" */
  hash: string;
}

export class AuditCheckpointPageView {
  /** Newest first. */
  items: AuditCheckpointView[];
  /** @example "15" */
  nextCursor: string | null;
}

export class AuditCheckpointKeyView {
  /** @example "Ed25519" */
  algorithm: 'Ed25519';
  /** @example "3f9a0c1d2e4b5a69" */
  keyId: string;
  /**
   * The public key, PEM (SPKI).
   * @example "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA…\n-----END PUBLIC KEY-----\n"
   */
  publicKey: string;
}

export class AuditStatsBucketView {
  /**
   * Start of the bucket: a whole UTC hour, or a UTC midnight with `interval=day`.
   * @example "2026-11-25T08:00:00.000Z"
   */
  start: string;
  /** @example 1520 */
  total: number;
  /**
   * Events per outcome in the bucket; an outcome with no event is left out.
   * @example {"valid": 1490, "revoked": 20, "invalid": 10}
   */
  outcomes: Record<string, number>;
}

export class AuditFailingIpView {
  /** @example "10.0.9.77" */
  ip: string;
  /** @example 25 */
  failures: number;
}

export class AuditFailingTokenView {
  /** @example "0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b" */
  tokenId: string;
  /** @example 20 */
  failures: number;
}

/** The answer of GET /api/audit/stats (the service's AuditStats). */
export class AuditStatsView implements AuditStats {
  /**
   * The period's start (as asked, or by default 24 hours before `to`) in UTC, not rounded to the hour.
   * @example "2026-11-25T00:00:00.000Z"
   */
  from: string;
  /**
   * The period's end, exclusive (as asked, or by default the time of the request) in UTC, not rounded to the hour.
   * @example "2026-11-26T00:00:00.000Z"
   */
  to: string;
  /** @example "hour" */
  interval: 'hour' | 'day';
  /**
   * The event type counted, or null for all.
   * @example "token.validate"
   */
  type: string | null;
  /** The buckets that hold at least one event, oldest first. */
  buckets: AuditStatsBucketView[];
  /** The 10 IPs with the most failures over the whole UTC days of the period, most first, ties by IP. */
  topFailingIps: AuditFailingIpView[];
  /** The 10 tokens with the most failures over the whole UTC days of the period, most first, ties by id. */
  topFailingTokens: AuditFailingTokenView[];
}
