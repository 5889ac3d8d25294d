export { HospiAIAuth } from './auth.js';
export { HospiAIConfigError, ENV_TIMEOUT, ENV_VALIDATION_URL, type EnvLike, type ResolvedConfig } from './config.js';
export { tokenCacheKey, type CacheSnapshot } from './cache.js';
export {
  fastmcpAuthenticate,
  failureResponse,
  requireScopes,
  sessionFromAnswer,
  type FastmcpAuthenticateOptions,
  type HospiAISession,
} from './fastmcp.js';
export { authorizationHeader, bearerToken, type BearerToken, type RequestLike } from './http.js';
export {
  authInfoFromAnswer,
  mcpSdkVerifier,
  type HospiAIAuthInfo,
  type HospiAITokenVerifier,
  type McpSdkVerifierOptions,
  type SdkErrorClasses,
} from './mcp-sdk.js';
export { HOSPIAI_SCOPES, type HospiAIScope } from './scopes.js';
export type {
  CacheOptions,
  FailureReason,
  FetchLike,
  HospiAIAuthOptions,
  HospiAITokenInfo,
  HospiAIUser,
  ValidateAnswer,
  ValidateFailure,
  ValidateOptions,
  ValidateResult,
  ValidateSuccess,
} from './types.js';
