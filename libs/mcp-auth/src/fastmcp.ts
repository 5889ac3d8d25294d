/**
 * FastMCP (npm `fastmcp`, 3.x and 4.x) glue. Nothing here imports fastmcp:
 * FastMCP calls `authenticate(request)` with the Node.js request of each HTTP
 * call, uses what it returns as `context.session`, and answers a thrown
 * `Response` with its status, headers and body.
 */
import type { HospiAIAuth } from './auth.js';
import { ASCII_DESCRIPTIONS, authorizationHeader, bearerToken, type RequestLike } from './http.js';
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

export type FastmcpAuthenticateOptions = {
  /** Scopes every request must hold (checked by the service, or locally on a cache hit). */
  requiredScopes?: readonly string[];
  /** `realm` of the `WWW-Authenticate` challenge. Default `"hospiai"`. */
  realm?: string;
  /** URL of this server's OAuth protected-resource metadata, added to the challenge when given. */
  resourceMetadataUrl?: string;
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

function challenge(options: FastmcpAuthenticateOptions, params: Record<string, string>): string {
  const all: Record<string, string> = { realm: options.realm ?? 'hospiai', ...params };
  if (options.resourceMetadataUrl) all.resource_metadata = options.resourceMetadataUrl;
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
export function failureResponse(failure: ValidateFailure, options: FastmcpAuthenticateOptions = {}): Response {
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

/**
 * The `authenticate` function for `new FastMCP({ authenticate })`: reads
 * `Authorization: Bearer <token>`, validates it, and returns a `HospiAISession`;
 * otherwise throws a `Response`: 401 with a `WWW-Authenticate` challenge for a
 * missing, malformed, invalid, expired or revoked token, 403 for a missing
 * scope, 503 when the service cannot answer.
 */
export function fastmcpAuthenticate(
  auth: HospiAIAuth,
  options: FastmcpAuthenticateOptions = {},
): (request: RequestLike | null | undefined) => Promise<HospiAISession> {
  const requiredScopes = options.requiredScopes ? [...options.requiredScopes] : undefined;
  return async (request) => {
    const bearer = bearerToken(authorizationHeader(request));
    if (bearer.kind === 'missing') {
      throw jsonResponse(
        401,
        'Unauthorized',
        { error: 'Token invalide', code: CODES.invalid },
        {
          'www-authenticate': challenge(options, {}),
        },
      );
    }
    if (bearer.kind === 'malformed') {
      throw failureResponse({ ok: false, reason: 'invalid', message: 'Token invalide' }, options);
    }
    const result = await auth.validate(bearer.token, { requiredScopes });
    if (!result.ok) throw failureResponse(result, options);
    return sessionFromAnswer(result.value);
  };
}

/**
 * For a FastMCP tool's `canAccess`: true when the session holds every one of
 * `scopes`. Tools it refuses are left out of `tools/list`.
 */
export function requireScopes(...scopes: string[]): (auth: { scopes?: unknown } | null | undefined) => boolean {
  return (auth) => {
    const held = auth?.scopes;
    if (!Array.isArray(held)) return false;
    return scopes.every((s) => held.includes(s));
  };
}
