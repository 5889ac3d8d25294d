/**
 * Glue for the official MCP TypeScript SDK (`@modelcontextprotocol/sdk` 1.x):
 * an `OAuthTokenVerifier` for `requireBearerAuth({ verifier })`.
 *
 * `requireBearerAuth` answers by the class of what the verifier throws
 * (`instanceof`): `InvalidTokenError` → 401, `InsufficientScopeError` → 403,
 * `ServerError` → 500, any other `OAuthError` → 400. So the errors must be the
 * SDK's own classes. They are loaded from the SDK on first need (dynamic
 * import; nothing is imported when this module loads), or given in `errors`.
 *
 * The SDK copies the error message into the `WWW-Authenticate` header, so the
 * messages are short ASCII descriptions, not the service's French ones.
 */
import type { HospiAIAuth } from './auth.js';
import { ASCII_DESCRIPTIONS } from './http.js';
import type { HospiAIUser, ValidateAnswer } from './types.js';

/** The SDK's `AuthInfo` as this verifier fills it. */
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
   * Scopes sent to the service with every validation. Usually left out:
   * `requireBearerAuth({ requiredScopes })` checks the returned scopes itself.
   */
  requiredScopes?: readonly string[];
  /**
   * The SDK's error classes. Give them in a CommonJS program (the dynamic import
   * would load the ES module build, whose classes `instanceof` does not match),
   * or to avoid the dynamic import.
   */
  errors?: SdkErrorClasses;
};

export type HospiAITokenVerifier = { verifyAccessToken(token: string): Promise<HospiAIAuthInfo> };

const SDK_ERRORS_MODULE = '@modelcontextprotocol/sdk/server/auth/errors.js';

let sdkErrors: Promise<SdkErrorClasses> | undefined;

function isErrorClass(value: unknown): value is ErrorClass {
  return typeof value === 'function';
}

async function importSdkErrors(): Promise<SdkErrorClasses> {
  let mod: Record<string, unknown>;
  try {
    // A variable specifier: the SDK is an optional peer, resolved only now, from the caller's installation.
    const specifier: string = SDK_ERRORS_MODULE;
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (cause) {
    throw new Error(`mcpSdkVerifier needs @modelcontextprotocol/sdk (1.x): install it, or pass its error classes as options.errors`, {
      cause,
    });
  }
  const { InvalidTokenError, InsufficientScopeError, ServerError } = mod;
  if (!isErrorClass(InvalidTokenError) || !isErrorClass(InsufficientScopeError) || !isErrorClass(ServerError)) {
    throw new Error(`${SDK_ERRORS_MODULE} does not export InvalidTokenError, InsufficientScopeError and ServerError`);
  }
  return { InvalidTokenError, InsufficientScopeError, ServerError };
}

/** The SDK's error classes, imported once; a failed import is tried again next time. */
export function loadSdkErrors(): Promise<SdkErrorClasses> {
  sdkErrors ??= importSdkErrors().catch((error: unknown) => {
    sdkErrors = undefined;
    throw error;
  });
  return sdkErrors;
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
 * A verifier for `requireBearerAuth({ verifier: mcpSdkVerifier(auth) })`.
 * Invalid, expired and revoked tokens throw `InvalidTokenError` (401); a
 * missing scope (only with `options.requiredScopes`) `InsufficientScopeError`
 * (403); an unreachable service `ServerError` (500: `requireBearerAuth` has no 503).
 */
export function mcpSdkVerifier(auth: HospiAIAuth, options: McpSdkVerifierOptions = {}): HospiAITokenVerifier {
  const requiredScopes = options.requiredScopes ? [...options.requiredScopes] : undefined;
  const errors = (): Promise<SdkErrorClasses> => (options.errors ? Promise.resolve(options.errors) : loadSdkErrors());
  return {
    async verifyAccessToken(token: string): Promise<HospiAIAuthInfo> {
      const result = await auth.validate(token, { requiredScopes });
      if (result.ok) return authInfoFromAnswer(token, result.value);
      const { InvalidTokenError, InsufficientScopeError, ServerError } = await errors();
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
