/**
 * FastMCP (npm `fastmcp` 4.x) glue. Nothing here imports fastmcp. What FastMCP 4
 * does (with mcp-proxy 6): it calls `authenticate(request)` on every HTTP
 * request, before it looks the session up; it answers a thrown `Response` with
 * its status, headers and body; it filters the tools by `canAccess` once, when
 * a session opens; and on each later request of a session it replaces the
 * session's identity (`context.session`) by what `authenticate` returned for
 * that request, whoever sent it. So `fastmcpAuthenticate` binds each session id
 * to the token that first used it and refuses another token on it, and
 * `withScopes` checks scopes on every call.
 */
import type { HospiAIAuth } from './auth.js';
import { ASCII_DESCRIPTIONS, authorizationHeader, bearerToken, headerValue, type RequestLike } from './http.js';
import type { HospiAIScope } from './scopes.js';
import type { HospiAIUser, ValidateAnswer, ValidateFailure } from './types.js';

/** What `context.session` holds in a tool once `fastmcpAuthenticate` let the request in. */
export type HospiAISession = {
  userId: string;
  email: string;
  name: string;
  scopes: string[];
  /** The token id (`jti`). */
  tokenId: string;
  tokenName: string;
  /** Token expiry, in epoch seconds. */
  expiresAt: number;
  user: HospiAIUser;
};

export type ChallengeOptions = {
  /**
   * `realm` of the `WWW-Authenticate` challenge, or `false` for none. Default `"hospiai"`, or none
   * with `resourceMetadataUrl`.
   */
  realm?: string | false;
  /**
   * URL of this server's OAuth Protected Resource Metadata (RFC 9728). When given, challenges take
   * the form MCP clients follow: `Bearer error="…", resource_metadata="…", scope="…"` (no
   * `error_description`; no `error` when no token was sent, RFC 6750 §3.1). See `protectedResource`.
   */
  resourceMetadataUrl?: string;
  /** With `resourceMetadataUrl`: the scopes named in a 401's `scope` (what a client should ask for). */
  scope?: readonly string[];
};

export type FastmcpAuthenticateOptions = ChallengeOptions & {
  /** Scopes every request must hold (checked by the service, or locally on a cache hit): 403 otherwise. */
  requiredScopes?: readonly HospiAIScope[];
  /**
   * Most session ids remembered with their token (least recently used forgotten
   * first). Default 10 000. A forgotten session is bound again by its next request.
   */
  maxSessions?: number;
};

export function sessionFromAnswer(answer: ValidateAnswer): HospiAISession {
  return {
    userId: answer.user.id,
    email: answer.user.email,
    name: answer.user.name,
    scopes: [...answer.scopes],
    tokenId: answer.token.id,
    tokenName: answer.token.name,
    expiresAt: answer.exp,
    user: { ...answer.user },
  };
}

const CODES = {
  invalid: 'invalid_token',
  expired: 'token_expired',
  revoked: 'token_revoked',
  insufficient_scope: 'insufficient_scope',
  unavailable: 'service_unavailable',
} as const;

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&').replace(/[^\x20-\x7e]/g, '')}"`;
}

export function challenge(options: ChallengeOptions, params: Record<string, string>): string {
  if (options.resourceMetadataUrl) {
    // RFC 9728 §5.1 and the MCP authorization specification: error, resource_metadata, scope.
    const all: Record<string, string> = {};
    if (typeof options.realm === 'string') all.realm = options.realm;
    if (params.error) all.error = params.error;
    all.resource_metadata = options.resourceMetadataUrl;
    const scope = params.error === 'insufficient_scope' ? params.scope : (options.scope ?? []).join(' ');
    if (scope) all.scope = scope;
    return 'Bearer ' + Object.entries(all).map(([k, v]) => `${k}=${quoted(v)}`).join(', ');
  }
  const all: Record<string, string> = { ...(options.realm === false ? {} : { realm: options.realm ?? 'hospiai' }), ...params };
  return (
    'Bearer ' +
    Object.entries(all)
      .map(([k, v]) => `${k}=${quoted(v)}`)
      .join(', ')
  );
}

function jsonResponse(status: number, statusText: string, body: unknown, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    statusText,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

/** The `Response` that refuses a request for this failure (401, 403 or 503). */
export function failureResponse(failure: ValidateFailure, options: ChallengeOptions = {}): Response {
  const body: Record<string, unknown> = { error: failure.message, code: CODES[failure.reason] };
  switch (failure.reason) {
    case 'invalid':
    case 'expired':
    case 'revoked':
      return jsonResponse(401, 'Unauthorized', body, {
        'www-authenticate': challenge(options, { error: 'invalid_token', error_description: ASCII_DESCRIPTIONS[failure.reason] }),
      });
    case 'insufficient_scope':
      return jsonResponse(
        403,
        'Forbidden',
        { ...body, requiredScopes: failure.requiredScopes ?? [], scopes: failure.scopes ?? [] },
        {
          'www-authenticate': challenge(options, {
            error: 'insufficient_scope',
            error_description: ASCII_DESCRIPTIONS.insufficient_scope,
            scope: (failure.requiredScopes ?? []).join(' '),
          }),
        },
      );
    case 'unavailable': {
      const headers: Record<string, string> = {};
      if (failure.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(failure.retryAfterMs / 1000)));
      return jsonResponse(503, 'Service Unavailable', { error: 'Service indisponible', code: CODES.unavailable }, headers);
    }
  }
}

/** 401 for a request without a token: a bare challenge (RFC 6750 §3.1). */
export function missingTokenResponse(options: ChallengeOptions = {}): Response {
  return jsonResponse(401, 'Unauthorized', { error: 'Token invalide', code: CODES.invalid }, { 'www-authenticate': challenge(options, {}) });
}

/** 401 for a session opened by another token. */
function foreignSessionResponse(options: ChallengeOptions): Response {
  return jsonResponse(
    401,
    'Unauthorized',
    { error: 'Session ouverte par un autre token', code: CODES.invalid },
    { 'www-authenticate': challenge(options, { error: 'invalid_token', error_description: 'The session was opened with another token' }) },
  );
}

/**
 * The `authenticate` function for `new FastMCP({ authenticate })`: reads
 * `Authorization: Bearer <token>`, validates it, and returns a `HospiAISession`;
 * otherwise throws a `Response`: 401 with a `WWW-Authenticate` challenge for a
 * missing, malformed, invalid, expired or revoked token, or for a session
 * (`Mcp-Session-Id`) that another token opened; 403 for a missing scope of
 * `options.requiredScopes`; 503 when the service cannot answer.
 *
 * A session is bound to the token (`jti`) of the first request that names it:
 * the SDK client sends `notifications/initialized` on it at once, with the
 * token that opened it.
 */
export function fastmcpAuthenticate(
  auth: HospiAIAuth,
  options: FastmcpAuthenticateOptions = {},
): (request: RequestLike | null | undefined) => Promise<HospiAISession> {
  const requiredScopes = options.requiredScopes ? [...options.requiredScopes] : undefined;
  const maxSessions = options.maxSessions ?? 10_000;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new RangeError('maxSessions must be a whole number of at least 1');
  const sessions = new Map<string, string>();
  return async (request) => {
    const bearer = bearerToken(authorizationHeader(request));
    if (bearer.kind === 'missing') throw missingTokenResponse(options);
    if (bearer.kind === 'malformed') {
      throw failureResponse({ ok: false, reason: 'invalid', message: 'Token invalide' }, options);
    }
    const result = await auth.validate(bearer.token, { requiredScopes });
    if (!result.ok) throw failureResponse(result, options);
    const sessionId = headerValue(request, 'mcp-session-id');
    if (sessionId !== undefined) {
      const tokenId = result.value.token.id;
      const bound = sessions.get(sessionId);
      if (bound !== undefined && bound !== tokenId) {
        auth.reportFailure('invalid', 'a request named a session opened by another token');
        throw foreignSessionResponse(options);
      }
      sessions.delete(sessionId);
      sessions.set(sessionId, tokenId);
      if (sessions.size > maxSessions) sessions.delete(sessions.keys().next().value as string);
    }
    return sessionFromAnswer(result.value);
  };
}

/** The scopes of `required` that `held` lacks, in the order of `required`. */
export function missingScopes(required: readonly string[], held: readonly string[]): string[] {
  return required.filter((s) => !held.includes(s));
}

/** The text of a tool error for missing scopes. */
export function scopeErrorText(missing: readonly string[]): string {
  return `insufficient_scope: missing scope ${missing.join(' ')}`;
}

/**
 * For a FastMCP tool's `canAccess`: true when the session holds every one of
 * `scopes`. FastMCP applies it once, when a session opens: a tool it refuses
 * is left out of `tools/list`, and calling it anyway gets "Unknown tool". To
 * tell the caller which scope it lacks, guard `execute` with `withScopes`.
 */
export function requireScopes(...scopes: HospiAIScope[]): (auth: { scopes?: unknown } | null | undefined) => boolean {
  return (auth) => {
    const held = auth?.scopes;
    if (!Array.isArray(held)) return false;
    return scopes.every((s) => held.includes(s));
  };
}

/** What `withScopes` returns for a refused call: a FastMCP content result marked as an error. */
export type ToolScopeError = { content: Array<{ type: 'text'; text: string }>; isError: true };

/**
 * Wraps a FastMCP tool's `execute`: each call checks `context.session.scopes`
 * (the identity of the request that makes the call) and, when a scope is
 * missing, returns a tool error naming it (`insufficient_scope: missing scope
 * write:bookings`) instead of running.
 */
export function withScopes<Args, Context extends { session?: { scopes?: unknown } | undefined }, R>(
  scopes: readonly HospiAIScope[],
  execute: (args: Args, context: Context) => R | Promise<R>,
): (args: Args, context: Context) => Promise<R | ToolScopeError> {
  return async (args, context) => {
    const held = context?.session?.scopes;
    const missing = missingScopes(scopes, Array.isArray(held) ? (held as string[]) : []);
    if (missing.length > 0) return { content: [{ type: 'text', text: scopeErrorText(missing) }], isError: true };
    return await execute(args, context);
  };
}
