export const AUDIT_TYPES = [
  'token.validate',
  'token.create',
  'token.revoke',
  'token.rotate',
  'auth.login',
  'auth.register',
  'user.update',
  'audit.prune',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

export const VALIDATE_OUTCOMES = ['valid', 'invalid', 'expired', 'revoked', 'insufficient_scope', 'error'] as const;
export type ValidateOutcome = (typeof VALIDATE_OUTCOMES)[number];

/** Every outcome an event can have: validation outcomes, then those of account and token changes. */
export const AUDIT_OUTCOMES = [...VALIDATE_OUTCOMES, 'success', 'failure', 'already_revoked'] as const;

/** What a caller gives to record an event; id, time and hash are added by the writer. */
export interface AuditInput {
  type: AuditType;
  outcome: string;
  actorUserId?: string | null;
  tokenId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  latencyMs?: number | null;
  /** Never a token, a password or a secret. */
  details?: Record<string, unknown>;
  /** Defaults to the time record() is called. */
  occurredAt?: Date;
}

/** An event as stored and as the API shows it (API.md §5). */
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
