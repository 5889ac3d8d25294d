import type { Principal } from './principal.js';

/**
 * Checks an API token presented on a route that accepts tokens (same checks
 * as POST /api/mcp/validate). Provided by the mcp-validation module; the
 * global guard depends on this abstraction only.
 */
export abstract class ApiTokenAuthenticator {
  /**
   * The token's principal, or throws an AppError (401; 403 `ip_not_allowed` when `ip`, the caller's
   * address, is outside the token's IP allowlist; 503 when its state cannot be checked).
   */
  abstract authenticate(token: string, ip: string | null): Promise<Extract<Principal, { kind: 'token' }>>;
}
