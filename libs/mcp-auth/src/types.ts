import type { HospiAIScope } from './scopes.js';

/**
 * The shapes of the HospiAI validation contract (docs/api.md, "Validation") as this client
 * sees them, and the result type that `HospiAIAuth.validate` returns.
 */

/** The user a valid token belongs to (the `user` of a 200 answer). */
export type HospiAIUser = {
  id: string;
  email: string;
  firstname: string;
  surname: string;
  /** `"firstname surname"`. */
  name: string;
  /** `null` when the user has not given one. */
  phoneNumber: string | null;
  /** ISO-8601 UTC; `null` until the profile is complete. */
  profileCompletedAt: string | null;
};

/** The token a validation was about (the `token` of a 200 answer); never the token itself. */
export type HospiAITokenInfo = {
  /** The token id (`jti`). */
  id: string;
  name: string;
  scopes: string[];
  /** ISO-8601 UTC. */
  expiresAt: string;
};

/** The 200 answer of `POST /api/mcp/validate`. */
export type ValidateAnswer = {
  valid: true;
  user: HospiAIUser;
  token: HospiAITokenInfo;
  /** The scopes the token holds. */
  scopes: string[];
  /** Expiry, in epoch seconds. */
  exp: number;
};

/**
 * Why a validation did not succeed.
 *
 * - `invalid`: no token, a malformed token, a bad signature, a session JWT… (401 `invalid_token`)
 * - `expired`: the token has expired (401 `token_expired`)
 * - `revoked`: revoked, unknown, or its owner is disabled or deleted (401 `token_revoked`)
 * - `insufficient_scope`: the token is valid but lacks a required scope (403, or checked locally on a cache hit)
 * - `unavailable`: no trustworthy answer could be had: network error, timeout, 503 after the retries,
 *   500 (server misconfigured), an unexpected status, or an unreadable answer
 */
export type FailureReason = 'invalid' | 'expired' | 'revoked' | 'insufficient_scope' | 'unavailable';

export type ValidateFailure = {
  ok: false;
  reason: FailureReason;
  /** The HTTP status the service answered with, when it answered. */
  status?: number;
  /** The service's `error` string when it gave one (French, as the service writes it), else a short local one. */
  message: string;
  /** For `insufficient_scope`: the scopes that were required. */
  requiredScopes?: string[];
  /** For `insufficient_scope`: the scopes the token holds. */
  scopes?: string[];
  /** For `unavailable`: when the service said when to come back (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  /** For `unavailable`: what went wrong, for logs (never holds the token). */
  detail?: string;
};

export type ValidateSuccess = { ok: true; value: ValidateAnswer };

export type ValidateResult = ValidateSuccess | ValidateFailure;

export type ValidateOptions = {
  /** Scopes the token must all hold (the service's catalogue: `HospiAIScope`). Empty or absent: any valid token passes. */
  requiredScopes?: readonly HospiAIScope[];
};

/** The `fetch` this client needs: the global one, or any compatible function. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export type CacheOptions = {
  /** Most entries kept; the least recently used goes first. Default 1000. */
  maxEntries?: number;
  /** Longest life of a successful validation, in ms (never past the token's `exp`). Default 30 000. */
  ttlMs?: number;
  /** Life of a 401 answer, in ms; 0 keeps none. Default 1500. */
  failureTtlMs?: number;
};

export type HospiAIAuthOptions = {
  /** URL of `POST /api/mcp/validate`. Default: `HOSPIAI_VALIDATION_URL`. */
  validationUrl?: string;
  /**
   * This MCP server's resource URI (RFC 8707), as registered in HospiAI: sent as `resource` with
   * every validation, so that a token bound to another MCP server is refused (and one bound to
   * this one accepted). Default: `HOSPIAI_RESOURCE`; none: bound tokens are refused.
   */
  resource?: string;
  /** Timeout of one attempt, in ms. Default: `HOSPIAI_TIMEOUT` (seconds), else 10 s. */
  timeoutMs?: number;
  /** Further attempts after the first, on network errors, timeouts, 429, 502, 503 and 504. Default 2. */
  retries?: number;
  /** Backoff between attempts: full jitter over `min(maxMs, baseMs * 2^n)`. Default 100 ms / 2 s. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Longest wait honoured from a `Retry-After` header, in ms. Default 5 000. */
  maxRetryAfterMs?: number;
  /** Cache settings, or `false` for none. Default: a cache with the defaults of `CacheOptions`. */
  cache?: CacheOptions | false;
  /** The fetch to use. Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Clock in ms since the epoch (for the cache and Retry-After dates). Default: `Date.now`. */
  now?: () => number;
  /** Waits between attempts. Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Random number in [0, 1) for the jitter. Default: `Math.random`. */
  random?: () => number;
  /**
   * Told why each request is refused: the failure's reason (or `feed_down`) and
   * a detail for logs (the service's message, the network error, the scopes
   * required and held), never the token. Default: one line on the standard error
   * (`[@hospiai/mcp-auth] request refused: revoked (Token révoqué ou inexistant)`).
   */
  onFailure?: (reason: FailureReason, detail: string) => void;
};
