import { hasAllScopes, type Scope } from '../../libs/scopes/src/index.js';
import type { Principal } from './principal.js';
import type { Role } from './role.js';

/**
 * Who may call a route.
 * - `roles`: a session whose user has one of these roles.
 * - `scopes`: an API token holding all of these scopes (API tokens are refused where this is absent).
 */
export interface AccessRule {
  public?: boolean;
  roles?: readonly Role[];
  scopes?: readonly Scope[];
}

export { hasAllScopes };

/** The pure decision: does this principal satisfy this rule? */
export function isAllowed(rule: AccessRule, principal: Principal): boolean {
  if (rule.public) return true;
  if (principal.kind === 'session') {
    return (rule.roles ?? []).includes(principal.role);
  }
  const scopes = rule.scopes ?? [];
  return scopes.length > 0 && hasAllScopes(scopes, principal.scopes);
}

/** A one-line description of a rule, used by the route snapshot and in Swagger. */
export function describeRule(rule: AccessRule | undefined): string {
  if (!rule) return 'DENIED (no access rule)';
  if (rule.public) return 'public';
  const parts: string[] = [];
  if (rule.roles?.length) parts.push(`session(${rule.roles.join('|')})`);
  if (rule.scopes?.length) parts.push(`token(${rule.scopes.join('+')})`);
  return parts.length ? parts.join(' or ') : 'DENIED (empty rule)';
}
