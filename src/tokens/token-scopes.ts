import { PRIVILEGED_SCOPES, type Scope } from '../../libs/scopes/src/index.js';
import type { Role } from '../access/role.js';

/** Roles that may put privileged scopes (read:audit) on a token. */
const PRIVILEGED_ROLES: readonly Role[] = ['auditor', 'admin'];

/** "You cannot grant what you do not have": a privileged scope needs a privileged role. */
function mayHold(role: Role, scope: Scope): boolean {
  return PRIVILEGED_ROLES.includes(role) || !PRIVILEGED_SCOPES.includes(scope);
}

/** The scopes `role` may not put on a token. */
export function refusedScopes(role: Role, scopes: readonly Scope[]): Scope[] {
  return scopes.filter((s) => !mayHold(role, s));
}

/**
 * The scopes a token grants while its owner has `role`: a privileged scope counts only while the
 * role may grant it, so that a demoted auditor's tokens no longer hold read:audit.
 */
export function grantedScopes(role: Role, scopes: readonly Scope[]): Scope[] {
  return scopes.filter((s) => mayHold(role, s));
}
