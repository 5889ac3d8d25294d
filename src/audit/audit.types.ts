import type { BrokenCheckpoint } from './audit-checkpoint.js';

export const AUDIT_TYPES = [
  'token.validate',
  'token.create',
  'token.revoke',
  'token.rotate',
  'auth.login',
  'auth.register',
  'auth.logout',
  'user.update',
  'audit.prune',
  'token.introspect',
  'mcp_client.create',
  'mcp_client.revoke',
  'mcp_client.update',
  'webhook.create',
  'webhook.update',
  'webhook.delete',
  'oauth.authorize',
  'oauth.consent',
  'oauth.code_exchange',
  'oauth.refresh',
  'oauth.refresh_replay',
  'oauth.client_register',
  'oauth.client_document',
  'oauth.revoke',
  'oauth.grant_revoke',
  'token.update',
  'policy.change',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

/** `ip_not_allowed`: the caller's address is outside the token's IP allowlist. */
export const VALIDATE_OUTCOMES = ['valid', 'invalid', 'expired', 'revoked', 'insufficient_scope', 'ip_not_allowed', 'error'] as const;
export type ValidateOutcome = (typeof VALIDATE_OUTCOMES)[number];

/**
 * Outcomes of `token.introspect` (RFC 7662): those of validation, and `invalid_client` when the
 * calling MCP server could not authenticate (no token was looked at).
 */
export const INTROSPECT_OUTCOMES = ['valid', 'invalid', 'expired', 'revoked', 'ip_not_allowed', 'error', 'invalid_client'] as const;
export type IntrospectOutcome = (typeof INTROSPECT_OUTCOMES)[number];

/**
 * Every outcome an event can have: validation outcomes, `throttled` (validations refused by the
 * failed-validation limit, counted per address and minute), then those of account and token changes.
 */
export const AUDIT_OUTCOMES = [...VALIDATE_OUTCOMES, 'throttled', 'success', 'failure', 'already_revoked', 'invalid_client'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** What a caller gives to record an event; id, time and hash are added by the writer. */
export interface AuditInput {
  type: AuditType;
  outcome: string;
  actorUserId?: string | null;
  tokenId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  /** The client's own X-Request-Id (RequestContext): stored as details.clientRequestId. */
  clientRequestId?: string | null;
  latencyMs?: number | null;
  /** Never a token, a password or a secret. */
  details?: Record<string, unknown>;
  /** Defaults to the time record() is called. */
  occurredAt?: Date;
}

/** An event as stored and as the API shows it (docs/api.md, "Audit"). */
export interface AuditEvent {
  id: string;
  occurredAt: string;
  type: string;
  outcome: string;
  actorUserId: string | null;
  tokenId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  latencyMs: number | null;
  details: Record<string, unknown>;
  hash: string;
}

/** What the listing and the export select (each served by an index); `to` is exclusive. */
export interface AuditFilters {
  type?: string;
  outcome?: string;
  userId?: string;
  tokenId?: string;
  ip?: string;
  from?: Date;
  to?: Date;
}

export interface AuditPage {
  items: AuditEvent[];
  nextCursor: string | null;
}

export interface StatsBucket {
  start: string;
  total: number;
  outcomes: Record<string, number>;
}

export interface AuditStats {
  from: string;
  to: string;
  interval: 'hour' | 'day';
  type: string | null;
  buckets: StatsBucket[];
  topFailingIps: { ip: string; failures: number }[];
  topFailingTokens: { tokenId: string; failures: number }[];
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  /**
   * The first event concerned: an edited, missing or misplaced one; or, when a signed checkpoint
   * no longer matches, the first event after the last checkpoint that still did (the change lies
   * between it and that checkpoint's lastId).
   */
  firstBrokenId: string | null;
  /** Where the checked chain started: the first id retained after pruning, or the first id in the range. */
  fromId: string | null;
  toId: string | null;
  /** Signed checkpoints the chain was found to pass through (their head's event exists with that hash). */
  checkpoints: number;
  /** The last event vouched for by a signed checkpoint; later events rest on the hash chain alone. */
  checkpointedToId: string | null;
  /** The checkpoint that failed (its signature, its order, or the chain no longer passing through it). */
  brokenCheckpoint: BrokenCheckpoint | null;
}

/** One day of a token's use: validations and introspections accepted (`ok`) and refused. */
export interface TokenUsageDay {
  day: string;
  ok: number;
  refused: number;
}

/** A token's use over a period, from the per-token daily rollup. */
export interface TokenUsage {
  days: TokenUsageDay[];
  topAddresses: { ip: string; ok: number; refused: number; lastAt: string }[];
}

export type ExportFormat = 'ndjson' | 'csv';
