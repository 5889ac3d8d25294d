/**
 * Glue for the official MCP TypeScript SDK (`@modelcontextprotocol/sdk` 1.x).
 *
 * - `mcpSdkBearerAuth(auth)`: a Node.js/Express middleware that answers 401, 403
 *   and 503 itself and sets `req.auth` as the SDK's transports read it. It needs
 *   no class of the SDK, so it works whichever copy of the SDK the program loads.
 * - `mcpSdkVerifier(auth, { errors })`: an `OAuthTokenVerifier` for the SDK's own
 *   `requireBearerAuth`. That middleware answers by the class of what the
 *   verifier throws (`instanceof`), so the classes must be those of the very SDK
 *   copy that `requireBearerAuth` comes from: the caller passes them. This module
 *   never imports the SDK: a copy resolved from here may be another installation
 *   (a package installed by folder is a symlink and resolves from its real path;
 *   a CommonJS program loads the SDK's CommonJS build), and `instanceof` against
 *   another copy's class is false, which `requireBearerAuth` turns into a 500.
 * - `requireToolScopes({ tool: scopes })`: after either middleware, answers a
 *   `tools/call` whose token lacks the tool's scopes with 403 `insufficient_scope`.
 * - `scopedTool(scopes, handler)`: the same check inside a tool handler, as a tool error.
 *
 * The SDK copies an error message into the `WWW-Authenticate` header, so the
 * messages are short ASCII descriptions, not the service's French ones.
 */
import type { HospiAIAuth } from './auth.js';
import { failureResponse, missingTokenResponse, missingScopes, scopeErrorText, type ChallengeOptions } from './fastmcp.js';
import { ASCII_DESCRIPTIONS, authorizationHeader, bearerToken, type RequestLike } from './http.js';
import type { HospiAIScope } from './scopes.js';
import type { HospiAIUser, ValidateAnswer } from './types.js';

/** The SDK's `AuthInfo` as this library fills it. */
export type HospiAIAuthInfo = {
  token: string;
  /** The HospiAI token id (`jti`). */
  clientId: string;
  scopes: string[];
  /** Token expiry, in epoch seconds. */
  expiresAt: number;
  extra: { user: HospiAIUser; tokenName: string };
};

type ErrorClass = new (message: string) => Error;

/** The SDK error classes the verifier throws (from `@modelcontextprotocol/sdk/server/auth/errors.js`). */
export type SdkErrorClasses = {
  InvalidTokenError: ErrorClass;
  InsufficientScopeError: ErrorClass;
  ServerError: ErrorClass;
};

export type McpSdkVerifierOptions = {
  /**
   * The error classes of the SDK copy that `requireBearerAuth` comes from:
   * `await import('@modelcontextprotocol/sdk/server/auth/errors.js')` in the
   * server's own code (or the named imports). Required.
   */
  errors: SdkErrorClasses;
  /**
   * Scopes sent to the service with every validation. Usually left out:
   * `requireBearerAuth({ requiredScopes })` checks the returned scopes itself.
   */
  requiredScopes?: readonly HospiAIScope[];
};

export type HospiAITokenVerifier = { verifyAccessToken(token: string): Promise<HospiAIAuthInfo> };

function isErrorClass(value: unknown): value is ErrorClass {
  return typeof value === 'function';
}

export function authInfoFromAnswer(token: string, answer: ValidateAnswer): HospiAIAuthInfo {
  return {
    token,
    clientId: answer.token.id,
    scopes: [...answer.scopes],
    expiresAt: answer.exp,
    extra: { user: { ...answer.user }, tokenName: answer.token.name },
  };
}

/**
 * A verifier for `requireBearerAuth({ verifier: mcpSdkVerifier(auth, { errors }) })`.
 * Invalid, expired and revoked tokens throw `InvalidTokenError` (401); a
 * missing scope (only with `options.requiredScopes`) `InsufficientScopeError`
 * (403); an unreachable service `ServerError`, which `requireBearerAuth` answers
 * with 500 (it has no 503: use `mcpSdkBearerAuth` for that).
 * Throws a `TypeError` at once when `options.errors` is missing.
 */
export function mcpSdkVerifier(auth: HospiAIAuth, options: McpSdkVerifierOptions): HospiAITokenVerifier {
  const errors = (options as Partial<McpSdkVerifierOptions> | undefined)?.errors;
  if (!errors || !isErrorClass(errors.InvalidTokenError) || !isErrorClass(errors.InsufficientScopeError) || !isErrorClass(errors.ServerError)) {
    throw new TypeError(
      "mcpSdkVerifier(auth, { errors }) needs the SDK's error classes from your own import: " +
        "errors: await import('@modelcontextprotocol/sdk/server/auth/errors.js') (or use mcpSdkBearerAuth(auth), which needs none)",
    );
  }
  const { InvalidTokenError, InsufficientScopeError, ServerError } = errors;
  const requiredScopes = options.requiredScopes ? [...options.requiredScopes] : undefined;
  return {
    async verifyAccessToken(token: string): Promise<HospiAIAuthInfo> {
      const result = await auth.validate(token, { requiredScopes });
      if (result.ok) return authInfoFromAnswer(token, result.value);
      switch (result.reason) {
        case 'invalid':
        case 'expired':
        case 'revoked':
          throw new InvalidTokenError(ASCII_DESCRIPTIONS[result.reason]);
        case 'insufficient_scope':
          throw new InsufficientScopeError(ASCII_DESCRIPTIONS.insufficient_scope);
        case 'unavailable':
          throw new ServerError(ASCII_DESCRIPTIONS.unavailable);
      }
    },
  };
}

/** The parts of a Node.js (or Express) response the middlewares write to. */
export type ResponseLike = {
  statusCode: number;
  headersSent?: boolean;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
};

/** A request as Express hands it over: headers, the parsed body, and `auth` once set. */
export type McpRequestLike = RequestLike & { body?: unknown; auth?: { scopes?: readonly string[] } };

export type Middleware = (req: McpRequestLike, res: ResponseLike, next: (error?: unknown) => void) => void;

export type McpSdkBearerAuthOptions = ChallengeOptions & {
  /** Scopes every request must hold (checked by the service, or locally on a cache hit): 403 otherwise. */
  requiredScopes?: readonly HospiAIScope[];
};

async function send(res: ResponseLike, response: Response): Promise<void> {
  const body = await response.text();
  if (res.headersSent) return;
  res.statusCode = response.status;
  response.headers.forEach((value, name) => res.setHeader(name, value));
  res.end(body);
}

/**
 * Express (or plain Node.js) middleware for an MCP SDK server: reads
 * `Authorization: Bearer <token>`, validates it, sets `req.auth` (the
 * `HospiAIAuthInfo`, which the SDK's transports hand to tool handlers as
 * `extra.authInfo`) and calls `next()`. Otherwise it answers as
 * `fastmcpAuthenticate` does: 401 with a `WWW-Authenticate` challenge, 403
 * `insufficient_scope` with `scope`, 503 when the service cannot answer.
 */
export function mcpSdkBearerAuth(auth: HospiAIAuth, options: McpSdkBearerAuthOptions = {}): Middleware {
  const requiredScopes = options.requiredScopes ? [...options.requiredScopes] : undefined;
  return (req, res, next) => {
    const run = async (): Promise<void> => {
      const bearer = bearerToken(authorizationHeader(req));
      if (bearer.kind === 'missing') return send(res, missingTokenResponse(options));
      if (bearer.kind === 'malformed') return send(res, failureResponse({ ok: false, reason: 'invalid', message: 'Token invalide' }, options));
      const result = await auth.validate(bearer.token, { requiredScopes });
      if (!result.ok) return send(res, failureResponse(result, options));
      req.auth = authInfoFromAnswer(bearer.token, result.value);
      next();
    };
    run().catch(next);
  };
}

type JsonRpcCall = { method?: unknown; params?: { name?: unknown } };

/**
 * Express middleware, after `mcpSdkBearerAuth` (or `requireBearerAuth`): a
 * `tools/call` of a tool listed in `scopesByTool` whose token (`req.auth.scopes`)
 * lacks one of its scopes is answered 403, `WWW-Authenticate: Bearer
 * error="insufficient_scope", scope="…"`, so that a client can ask for a token
 * with more. Needs the parsed JSON body (`express.json()`).
 */
export function requireToolScopes(scopesByTool: Readonly<Record<string, readonly HospiAIScope[]>>, options: ChallengeOptions = {}): Middleware {
  return (req, res, next) => {
    const calls: JsonRpcCall[] = (Array.isArray(req.body) ? req.body : [req.body]).filter(
      (m): m is JsonRpcCall => typeof m === 'object' && m !== null && (m as JsonRpcCall).method === 'tools/call',
    );
    const held = req.auth?.scopes ?? [];
    const missing = new Set<string>();
    for (const call of calls) {
      const name = call.params?.name;
      const needed = typeof name === 'string' && Object.hasOwn(scopesByTool, name) ? scopesByTool[name] : [];
      for (const s of missingScopes(needed, held)) missing.add(s);
    }
    if (missing.size === 0) return next();
    const failure = {
      ok: false as const,
      reason: 'insufficient_scope' as const,
      message: 'Scope insuffisant',
      requiredScopes: [...missing],
      scopes: [...held],
    };
    send(res, failureResponse(failure, options)).catch(next);
  };
}

/** The HospiAI user of an SDK `AuthInfo` (`extra.authInfo` in a tool handler), typed. */
export function hospiaiUser(authInfo: { extra?: Record<string, unknown> } | undefined): HospiAIUser | undefined {
  const user = authInfo?.extra?.user;
  return typeof user === 'object' && user !== null && typeof (user as HospiAIUser).id === 'string' ? (user as HospiAIUser) : undefined;
}

/** What an SDK tool handler returns for a call refused for want of a scope. */
export type ScopeRefusal = { content: Array<{ type: 'text'; text: string }>; isError: true };

/**
 * Wraps an SDK tool handler (`registerTool(name, config, scopedTool(['write:bookings'], handler))`):
 * a call whose `extra.authInfo` lacks one of `scopes` gets a tool error naming the
 * missing scopes (`insufficient_scope: missing scope write:bookings`) instead of running.
 */
export function scopedTool<Args extends unknown[], R>(
  scopes: readonly HospiAIScope[],
  handler: (...args: Args) => R,
): (...args: Args) => R | ScopeRefusal {
  return (...args: Args) => {
    const extra = args[args.length - 1] as { authInfo?: { scopes?: readonly string[] } } | undefined;
    const missing = missingScopes(scopes, extra?.authInfo?.scopes ?? []);
    if (missing.length > 0) return { content: [{ type: 'text', text: scopeErrorText(missing) }], isError: true };
    return handler(...args);
  };
}
