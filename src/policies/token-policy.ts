import { SCOPE_NAMES, type Scope } from '../../libs/scopes/src/index.js';
import type { Role } from '../access/role.js';
import { AppError } from '../common/app-error.js';

/** The admins' rules for new tokens (docs/governance.md). */
export interface TokenPolicy {
  /** The longest lifetime a new token may be given, in days (1–365; 365 by default). */
  maxLifetimeDays: number;
  /** Scopes that only the roles named may put on a token (a scope not named: any role that may hold it). */
  restrictedScopes: Partial<Record<Scope, Role[]>>;
  /** Whether a token with a write scope must have an IP allowlist. */
  allowlistRequiredForWrite: boolean;
}

export const DEFAULT_POLICY: TokenPolicy = { maxLifetimeDays: 365, restrictedScopes: {}, allowlistRequiredForWrite: false };

/** The scopes that change data: those an allowlist may be required for. */
export const WRITE_SCOPES: readonly Scope[] = SCOPE_NAMES.filter((s) => s.startsWith('write:'));

/** The error codes of a token refused by the policy (docs/api.md). */
export const POLICY_CODES = {
  maxLifetime: 'policy_max_lifetime',
  scopeRestricted: 'policy_scope_restricted',
  allowlistRequired: 'policy_allowlist_required',
} as const;

/** What a new token (created or rotated) or a changed one would be. */
export interface TokenIssue {
  role: Role;
  scopes: readonly Scope[];
  /** Undefined for a change that keeps the lifetime (PATCH). */
  durationDays?: number;
  allowedIps: readonly string[] | null;
}

/** The scopes of `scopes` that `role` may not grant under `policy`. */
export function restrictedFor(policy: TokenPolicy, role: Role, scopes: readonly Scope[]): Scope[] {
  return scopes.filter((s) => {
    const roles = policy.restrictedScopes[s];
    return roles !== undefined && !roles.includes(role);
  });
}

/** Throws the AppError of the first rule of `policy` that `issue` breaks. */
export function enforcePolicy(policy: TokenPolicy, issue: TokenIssue): void {
  if (issue.durationDays !== undefined && issue.durationDays > policy.maxLifetimeDays) {
    const message = `La durée de validité dépasse le maximum fixé par la politique des tokens : ${policy.maxLifetimeDays} jours`;
    throw new AppError(400, POLICY_CODES.maxLifetime, message, {
      maxLifetimeDays: policy.maxLifetimeDays,
      fields: [{ field: 'durationDays', message }],
    });
  }
  const restricted = restrictedFor(policy, issue.role, issue.scopes);
  if (restricted.length > 0) {
    const s = restricted[0];
    const message = `La politique des tokens réserve ${s} aux rôles : ${(policy.restrictedScopes[s] ?? []).join(', ')}`;
    throw new AppError(403, POLICY_CODES.scopeRestricted, message, { fields: [{ field: 'scopes', message }] });
  }
  const writes = issue.scopes.filter((s) => WRITE_SCOPES.includes(s));
  if (policy.allowlistRequiredForWrite && writes.length > 0 && !(issue.allowedIps && issue.allowedIps.length > 0)) {
    const message = `La politique des tokens exige une liste d’adresses IP autorisées pour un token avec une portée d’écriture (${writes.join(', ')})`;
    throw new AppError(400, POLICY_CODES.allowlistRequired, message, { fields: [{ field: 'allowedIps', message }] });
  }
}
